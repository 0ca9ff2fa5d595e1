#!/usr/bin/env bash
# Refresh envs/pip-lock.txt: resolve pyproject.toml's ranges afresh in a throwaway venv (torch
# as scripts/install.sh installs it), then record exactly what was installed. Run the suite
# (`bash scripts/test.sh`) afterwards and commit the lock only when it passes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
PYTHON="$work/venv/bin/python" DACAPO_FLOW_LOCK=none bash scripts/install.sh
"$work/venv/bin/python" scripts/lock.py write
