"""Throughput of ``Run.log_prob`` against ``genood eval`` on FashionMNIST's 10,000 test
images, same model, same threads, alternating rounds in one command (these machines are
noisy): the ratio of the medians is the figure.

    python python/benchmarks/log_prob.py [--run RUN] [--threads N] [--rounds 5]

Without ``--run`` it trains the quick Glow (``genood bench``'s model) for one step into a
temporary folder: throughput does not depend on the weights. ``genood eval`` is timed by its
own report (the scoring alone, as ``log_prob`` is timed around the call). Each ``genood
eval`` is a fresh process, so ``log_prob`` is timed twice: in this process (warm, as in a
notebook) and as the first call of a fresh Python process (cold, like the command)."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import genood

REPOSITORY = Path(__file__).resolve().parents[2]

COLD = """
import sys, time, genood
x, _ = genood.load("fashion-mnist:test")
run = genood.Run.open(sys.argv[1])
started = time.perf_counter()
run.log_prob(x, threads=int(sys.argv[2]))
print(len(x) / (time.perf_counter() - started))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a trained run (default: the quick Glow, one step)")
    parser.add_argument("--threads", type=int, default=genood._genood.threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--genood", type=Path, default=REPOSITORY / "target" / "release" / "genood")
    args = parser.parse_args()
    x_test, _ = genood.load("fashion-mnist:test")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.run or Path(scratch) / "quick-glow"
        if args.run is None:
            genood.train(folder, "fashion-mnist:train", preset="quick", steps=1, threads=args.threads, progress=False)
        run = genood.Run.open(folder)
        cli, python, cold = [], [], []
        for round in range(args.rounds):
            command = [str(args.genood), "eval", "--run", str(folder), "--data", "fashion-mnist:test", "--threads", str(args.threads)]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            cli.append(float(re.search(r"10000 images in [\d.]+ s \((\d+) img/s\)", out.stderr + out.stdout).group(1)))  # type: ignore[union-attr]
            started = time.perf_counter()
            run.log_prob(x_test, threads=args.threads)
            python.append(len(x_test) / (time.perf_counter() - started))
            fresh = [sys.executable, "-c", COLD, str(folder), str(args.threads)]
            cold.append(float(subprocess.run(fresh, capture_output=True, text=True, check=True).stdout))
            print(
                f"round {round + 1}: genood eval {cli[-1]:.0f} img/s, Run.log_prob {python[-1]:.0f} img/s "
                f"(fresh process {cold[-1]:.0f} img/s)",
                flush=True,
            )
    a, b, c = statistics.median(cli), statistics.median(python), statistics.median(cold)
    print(
        f"median over {args.rounds} rounds, {args.threads} threads: genood eval {a:.0f} img/s; "
        f"Run.log_prob {b:.0f} img/s (ratio {b / a:.3f}), in a fresh process {c:.0f} img/s (ratio {c / a:.3f})"
    )


if __name__ == "__main__":
    main()
