#!/usr/bin/env bash
# Install dacapo-flow and everything it needs into the current Python environment.
# PyTorch comes first and on purpose: a CPU machine gets the CPU build, never the CUDA wheels
# that an unpinned `pip install torch` would pull from PyPI.
#   TORCH_VERSION    torch version to install when none is present (default 2.13.0)
#   TORCH_CPU_INDEX  pip index holding CPU builds (e.g. PyTorch's CPU wheel index), used on
#                    machines without an NVIDIA GPU where plain PyPI would serve CUDA builds
#   DACAPO_FLOW_LOCK  the pip constraints to install with (default envs/pip-lock.txt, the
#                    versions the suite was last run with); `none` resolves pyproject.toml's
#                    ranges afresh, as scripts/lock.sh does to refresh the lock
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
torch_version=${TORCH_VERSION:-2.13.0}

if "$python" -c "import torch" 2>/dev/null; then
    echo "install: torch $("$python" -c 'import torch; print(torch.__version__)') already present"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "install: NVIDIA GPU found, installing torch==$torch_version with CUDA"
    "$python" -m pip install --quiet "torch==$torch_version"
else
    echo "install: no GPU, installing the CPU build of torch==$torch_version"
    "$python" -m pip install --quiet "torch==$torch_version" \
        ${TORCH_CPU_INDEX:+--index-url "$TORCH_CPU_INDEX"}
fi
lock=${DACAPO_FLOW_LOCK:-envs/pip-lock.txt}
if [ "$lock" = none ]; then
    constraints=()
    echo "install: resolving pyproject.toml's ranges afresh (no lock)"
else
    [ -f "$lock" ] || { echo "install: lock file $lock not found" >&2; exit 1; }
    constraints=(--constraint "$lock")
    echo "install: the locked versions of $lock"
fi
# torch is now satisfied, so this never replaces it.
"$python" -m pip install --quiet "${constraints[@]}" -e ".[workflow,view,dev]"
# DaCapo 0.3.5 itself, without its dependencies: the parity tests load its Model and UNet
# files to compare with ours (tests/test_interop_dacapo_config.py); nothing else imports it.
"$python" -m pip install --quiet --no-deps "dacapo-ml==0.3.5"
echo "install: done ($("$python" -m pip show dacapo-flow 2>/dev/null | grep ^Version))"
