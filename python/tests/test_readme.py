"""The README's Python script, run as written: a tiny Glow trained on FashionMNIST as a numpy
array, a detector fitted on held-out images, MNIST scored."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_script() -> str:
    """The README's ```python block."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README has one Python script"
    return str(blocks[0])


def test_the_readme_script_is_at_most_15_lines() -> None:
    lines = [line for line in readme_script().splitlines() if line.strip()]
    assert len(lines) <= 15, len(lines)


def test_the_readme_script_reproduces_the_paper_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: Dict[str, Any] = {}
    exec(compile(readme_script(), str(README), "exec"), namespace)
    table, flagged = namespace["table"], namespace["flagged"]
    # The likelihood ranks MNIST as *more* in-distribution than FashionMNIST.
    assert table.auroc("likelihood (bpd)") < 0.5
    # Typicality in batches or input complexity sees it.
    assert max(table.auroc("typicality, batches of 10"), table.auroc("complexity")) > 0.9
    # At fpr = 0.05, held-out in-distribution images are flagged 5% ± 1.5% of the time.
    assert 0.035 <= flagged <= 0.065, flagged
    assert os.path.exists("runs/python-tiny/model.safetensors")
