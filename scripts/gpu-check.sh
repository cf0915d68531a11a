#!/usr/bin/env bash
# One-shot GPU check, run on a machine with a GPU from a checkout where
# `CARGO_TARGET_DIR=target-gpu cargo build --release -p genood-cli --features FEATURE` was built
# (FEATURE = cuda or wgpu; DEVICE says which to use), with data/mnist fetched and a trained run
# folder RUN (default: the reproduce Glow run). Writes its reports into OUT (default: ./gpu-check).
set -uo pipefail
bin=${BIN:-target-gpu/release/genood}
device=${DEVICE:-cuda}
run=${RUN:-runs/reproduce/fashion-mnist-mnist/glow}
out=${OUT:-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
# Throughput: the GPU for both presets, then the CPU in the same call as the baseline.
"$bin" bench --preset quick,paper --device "$device" --steps 5 2>&1 | tee "$out/bench-$device.txt"
"$bin" bench --preset quick --device cpu --steps 3 2>&1 | tee "$out/bench-cpu.txt"
# The same likelihoods on both devices: score 2,000 MNIST digits on each and compare.
for d in cpu "$device"; do
  "$bin" eval --run "$run" --data mnist:test --limit 2000 --device "$d" 2>&1 | tee "$out/eval-$d.txt"
  cp "$run/scores/mnist_test.csv" "$out/scores-$d.csv"
done
python3 - "$out" "$device" <<'PY'
import csv, sys
out, gpu = sys.argv[1], sys.argv[2]
rows = {d: list(csv.DictReader(open(f"{out}/scores-{d}.csv"))) for d in ("cpu", gpu)}
diff = max(abs(float(a["log_p"]) - float(b["log_p"])) for a, b in zip(rows["cpu"], rows[gpu]))
scale = max(abs(float(a["log_p"])) for a in rows["cpu"])
print(f"max |log p cpu - log p {gpu}| = {diff:.6g} nats over {len(rows['cpu'])} images (|log p| up to {scale:.1f})")
PY
