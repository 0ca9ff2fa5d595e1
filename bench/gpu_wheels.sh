#!/usr/bin/env bash
# Fetch, on a machine that reaches PyPI, the wheels dacapo-flow needs beyond what a CUDA
# PyTorch image usually holds (torch, numpy, scipy, numba, xarray, h5py, pyyaml, tqdm,
# matplotlib), for an offline GPU machine with Python 3.12: `bench/gpu_figures.sh` installs
# them from ./.whl (git-ignored) into /tmp/site. Versions are the ones the tests run with.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64 manylinux_2_5_x86_64; do
    platforms+=(--platform "$p")
done
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d .whl \
    zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
    h5netcdf==1.8.2 funlib.geometry==0.3.0 pydantic==2.13.4 pydantic-core==2.46.4 \
    annotated-types==0.7.0 typing-inspection==0.4.2 typing-extensions==4.16.0
ls .whl
