#!/usr/bin/env bash
# Quick start: install, then train, validate and select on the bundled synthetic example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
snakemake --cores "${CORES:-2}" "$@"
echo "quickstart: done; results are under results/store (see README, 'The store')"
