#!/bin/bash
# Usage: scripts/reproduce-hashes.sh OUT [EXPERIMENT] (the --out of `genood reproduce` and the
# experiment's folder in it, default fashion-mnist-mnist; `--preset tiny` writes
# fashion-mnist-mnist-tiny); compare two builds by running both into their own OUT and
# diffing this output. Run folders are listed by their names in the experiment's folder
# (companions: `glow-member1` since the one planner, `glow-seed1` before it).
# Hashes of every scores/regret CSV (without the `path` column scores CSVs end with since
# f8e3b25, so builds before and after compare), of analysis.json and of results.json, with
# the output folder's path replaced by OUT and results.json's timing fields removed.
experiment=${2:-fashion-mnist-mnist}
cd "$1/$experiment" || exit 1
for csv in $(find . -path '*/scores/*.csv' -o -path '*/regret/*.csv' | sort); do
  if head -1 "$csv" | grep -q ',path$'; then
    printf '%s  %s\n' "$(sed 's/,[^,]*$//' "$csv" | sha256sum | cut -d' ' -f1)" "$csv"
  else
    sha256sum "$csv"
  fi
done
python3 - "$1" <<'PY'
import json, hashlib, sys
root = sys.argv[1].rstrip('/')
def load(p):
    return json.loads(open(p).read().replace(root, 'OUT'))
def strip(x):
    if isinstance(x, dict):
        return {k: ([r[0] for r in v] if k == 'extra_runs' else strip(v))
                for k, v in x.items() if 'seconds' not in k and 'per_sec' not in k}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
a = json.dumps(load('analysis/analysis.json'), sort_keys=True)
print(hashlib.sha256(a.encode()).hexdigest(), 'analysis.json (paths as OUT)')
r = json.dumps(strip(load('results.json')), sort_keys=True)
print(hashlib.sha256(r.encode()).hexdigest(), 'results.json without timings (paths as OUT)')
PY
