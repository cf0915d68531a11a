#!/usr/bin/env bash
# Crash consistency of training, for real: trains a tiny Glow with a checkpoint every 5 steps,
# kills it with SIGKILL at KILLS (default 20) random moments, resuming after each, and checks
# that the final weights equal those of an uninterrupted twin, byte for byte, and its
# metrics.csv the twin's (throughput aside).
#
#   scripts/kill-test.sh            # needs FashionMNIST in $GENOOD_DATA (default ./data), or
#                                   # MIRROR=../shared/data to fetch it from a folder first
set -euo pipefail
shopt -s inherit_errexit
top=$(git rev-parse --show-toplevel)
cd "$top"
kills=${KILLS:-20}
cargo build --release -p genood-cli --quiet
genood=target/release/genood
if [ -n "${MIRROR:-}" ]; then "$genood" fetch fashion-mnist --mirror "$MIRROR" --offline; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$genood" train --run "$work/print" --preset tiny --print-config \
  | sed -e 's/"steps": [0-9]*/"steps": 3000/' -e 's/"checkpoint_every": [0-9]*/"checkpoint_every": 5/' \
  > "$work/config.json"
"$genood" train --run "$work/twin" --config "$work/config.json" --threads 2 2> "$work/twin.log"
done_kills=0
first=1
while true; do
  flag=--resume
  [ $first = 1 ] && flag=
  first=0
  "$genood" train --run "$work/killed" --config "$work/config.json" --threads 2 $flag 2>> "$work/killed.log" &
  pid=$!
  if [ $done_kills -lt "$kills" ]; then
    # 0.2–2.2 s: anywhere in start-up, a step, or a checkpoint's save and commit.
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + 2 * r / 32768 }')"
    if kill -9 "$pid" 2> /dev/null; then
      wait "$pid" 2> /dev/null || true
      done_kills=$((done_kills + 1))
      echo "kill $done_kills: last checkpoint $(grep -o '"step": [0-9]*' "$work/killed/state.json" 2> /dev/null || echo 'none yet')"
      continue
    fi
  fi
  wait "$pid"
  break
done
echo "resumes: $(grep -c 'resuming' "$work/killed.log" || true); interrupted commits finished: $(grep -c 'finished committing' "$work/killed.log" || true); uncommitted saves dropped: $(grep -c 'dropped the files' "$work/killed.log" || true)"
# metrics.csv without its throughput column, which measures this machine, not the run.
rows() { cut -d, -f1-4,6 "$1/metrics.csv"; }
if ! cmp -s "$work/twin/model.safetensors" "$work/killed/model.safetensors"; then
  echo "FAIL: after $done_kills kills the final weights differ from the twin's" >&2
  exit 1
fi
if ! diff <(rows "$work/twin") <(rows "$work/killed") > "$work/metrics.diff"; then
  echo "FAIL: after $done_kills kills metrics.csv differs from the twin's:" >&2
  head -20 "$work/metrics.diff" >&2
  exit 1
fi
echo "OK: $done_kills kills, final weights and metrics.csv equal the uninterrupted twin's"
