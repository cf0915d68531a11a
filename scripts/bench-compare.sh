#!/usr/bin/env bash
# Before/after speed under the same load: builds two commits of genood (release, sharing one
# target folder for the dependencies), then runs `genood bench` for each in turn, ROUNDS times,
# alternating which goes first, and prints each round's images per second and the ratio
# NEW / BASE of the medians.
#
#   scripts/bench-compare.sh BASE [NEW] [-- BENCH ARGS...]
#
# BASE and NEW are commits (NEW defaults to the working tree, uncommitted changes included).
# BENCH ARGS go to both benches (default: --preset quick --model glow --steps 20).
# ROUNDS (default 3) sets the number of rounds. Builds land in target-bench/ and are reused.
set -euo pipefail
shopt -s inherit_errexit
top=$(git rev-parse --show-toplevel)
cd "$top"
base=${1:?usage: scripts/bench-compare.sh BASE [NEW] [-- BENCH ARGS...]}
shift
new=worktree
if [ $# -gt 0 ] && [ "$1" != "--" ]; then new=$1; shift; fi
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--preset quick --model glow --steps 20)
rounds=${ROUNDS:-3}
out=target-bench
mkdir -p "$out"

# Prints the path of a release binary of commit $1 (or of the working tree), building it once.
build() {
  local rev=$1 sha src bin
  if [ "$rev" = worktree ]; then
    cargo build --release -p genood-cli --quiet >&2
    bin="$out/genood-worktree"
    cp target/release/genood "$bin"
  else
    sha=$(git rev-parse --verify "$rev^{commit}")
    bin="$out/genood-$sha"
    if [ ! -x "$bin" ]; then
      # Outside this checkout: cargo would otherwise take the enclosing workspace for its own.
      src=$(mktemp -d)/genood-$sha
      git worktree add --detach "$src" "$sha" >&2
      # A target folder of its own (cargo names a workspace's crates by their path inside the
      # workspace, so two checkouts in one folder overwrite each other's), seeded with this
      # checkout's compiled dependencies.
      if [ ! -d "$out/target/release" ] && [ -d target/release ]; then
        mkdir -p "$out/target" && cp -a target/release "$out/target/"
      fi
      (cd "$src" && CARGO_TARGET_DIR="$top/$out/target" cargo build --release -p genood-cli --quiet >&2)
      cp "$out/target/release/genood" "$bin"
      git worktree remove --force "$src" >&2
    fi
  fi
  echo "$bin"
}

base_bin=$(build "$base")
new_bin=$(build "$new")
log="$out/compare-$(date +%Y%m%d-%H%M%S).jsonl"
for round in $(seq 1 "$rounds"); do
  order=("base:$base_bin" "new:$new_bin")
  [ $((round % 2)) -eq 0 ] && order=("new:$new_bin" "base:$base_bin")
  for entry in "${order[@]}"; do
    name=${entry%%:*}
    bin=${entry#*:}
    echo "round $round: $name ($bin ${args[*]})" >&2
    "$bin" bench "${args[@]}" 2>/dev/null |
      python3 -c 'import json,sys; t=sys.stdin.read(); print(json.dumps({"who": sys.argv[1], "round": int(sys.argv[2]), "results": json.loads(t[t.index("\n[") + 1:])}))' "$name" "$round" >>"$log"
  done
done
python3 - "$log" "$base" "$new" <<'PY'
import json, statistics, sys
log, base, new = sys.argv[1:]
runs = [json.loads(line) for line in open(log)]
keys = sorted({(r["preset"], r["model"]) for run in runs for r in run["results"]})
print(f"base = {base}, new = {new}; {max(r['round'] for r in runs)} rounds, alternating ({log})")
print("| preset | model | metric | base img/s (median) | new img/s (median) | new / base |")
print("|---|---|---|---:|---:|---:|")
for preset, model in keys:
    for metric in ("train_images_per_sec", "eval_images_per_sec"):
        med = {}
        for who in ("base", "new"):
            med[who] = statistics.median(
                r[metric] for run in runs if run["who"] == who
                for r in run["results"] if (r["preset"], r["model"]) == (preset, model))
        print(f"| {preset} | {model} | {metric.split('_')[0]} | {med['base']:.1f} | {med['new']:.1f} | {med['new'] / med['base']:.2f}x |")
PY
