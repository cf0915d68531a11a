"""Ctrl-C (SIGINT, a notebook's interrupt) stops training at a checkpoint and raises
KeyboardInterrupt; the run resumes from it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Tuple

import numpy as np
import numpy.typing as npt
import pytest

import genood

CHILD = """
import sys, genood
x, _ = genood.load("fashion-mnist:train")
try:
    genood.train(sys.argv[1], x[:5000], preset="tiny", steps=100_000, progress=False)
except KeyboardInterrupt:
    print("interrupted at step", genood.Run.open(sys.argv[1]).step)
"""


def test_ctrl_c_stops_training_at_a_checkpoint(tmp_path: Path, fashion: Tuple[npt.NDArray[np.uint8], Any]) -> None:
    folder = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (folder / "state.json").exists():
        assert child.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    assert out.startswith("interrupted at step"), out
    step = int(out.split()[-1])
    assert 20 <= step < 100_000

    # Resumed, it goes on from that step; an exception in the progress callback stops it the
    # same way (and is raised).
    def stop_after_a_few_steps(event: str, *values: Any) -> None:
        if event == "step" and values[0] >= step + 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        genood.train(folder, fashion[0][:5000], preset="tiny", steps=100_000, resume=True, progress=stop_after_a_few_steps)
    assert genood.Run.open(folder).step == step + 5
