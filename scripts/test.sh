#!/usr/bin/env bash
# The tests, all of them: the Rust workspace, then the Python package built and installed
# the way a user installs it (`pip install ./python`) into a fresh virtual environment,
# with its pytest suite (which runs the README's script, the notebook and mypy --strict).
# One release profile throughout, so the package reuses the workspace's compiled crates.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --workspace
venv=target/python-venv
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# CARGO_TARGET_DIR: the build pip starts shares the workspace's target folder.
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/python" -m pip install --quiet "./python[test]"
# From python/tests, so `import genood` is the installed package, not the source folder.
(cd python/tests && "../../$venv/bin/python" -m pytest -q)
