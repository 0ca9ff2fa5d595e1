#!/usr/bin/env bash
# The test suite: library units, workflow runs on tiny configs, and the SLURM profile against
# a real single-node SLURM cluster (started and stopped by the tests where possible).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m pytest "$@"
