"""Checks of the arrays a run config names, from their metadata (no voxel data): existence,
voxel grids, channels, dtypes, overlaps, and sizes that fit the network.

Three costs, three places: `Config.problems()` looks at the values only (wherever a config is
parsed); these open array metadata (each job, for its own run: `verify_run_data`, and
`dacapo-flow check` / the main Snakemake process for every run); `plan.data_checks` reads the
voxels themselves (gt ids, NaN in raw, empty masks), once per array.
"""

from ..config.base import ConfigError
from ..config.datasplits import RawGTDatasetConfig, TrainValidateDataSplitConfig, is_pending
from ..config.run_config import RunConfig
from .arrays import level_hint, open_array


def verify_run_data(run_config: RunConfig, source: str) -> RunConfig:
    """`run_config` if the arrays it names fit it; else ConfigError naming `source` and every
    key. What each job checks of its own run before any compute."""
    found = run_data_problems(run_config)
    if found:
        raise ConfigError("\n".join(f"{source}: {line}" for line in found))
    return run_config


def run_data_problems(run_config: RunConfig) -> list[str]:
    """Every array's own checks, then: the data fit the network (dimensions, crop sizes)."""
    found = [f"datasplit_config.{p}" for p in split_problems(run_config.datasplit_config)]
    if found:
        return found
    arch = run_config.architecture_config
    # A network that does not verify has no output shape; problems() reports it.
    output_shape = (
        None if arch.problems() else tuple(arch.data_shape(arch.output_shape(arch.input_shape)))
    )
    for key, dataset in run_config.datasplit_config.datasets():
        if is_pending(dataset.raw.path):
            continue
        raw = open_array(dataset.raw.path, dataset.raw.dataset)
        where = f"datasplit_config.{key}"
        if raw.voxel_size.dims != arch.data_dims:
            hint = (
                "; set architecture_config.section_axis (e.g. 0) to run the 2D network "
                "section by section"
                if (raw.voxel_size.dims, arch.dims, arch.section_axis) == (3, 2, None)
                else ""
            )
            found.append(
                f"{where}.raw: {dataset.raw.path}/{dataset.raw.dataset} is "
                f"{raw.voxel_size.dims}D, the network runs on {arch.data_dims}D data "
                f"(architecture_config.input_shape {arch.input_shape}"
                + (f", section_axis {arch.section_axis}" if arch.section_axis is not None else "")
                + f"){hint}"
            )
            continue
        input_shape = tuple(arch.data_shape(arch.input_shape))
        if len(raw.shape) == len(input_shape) and any(
            r < i for r, i in zip(raw.shape, input_shape)
        ):
            found.append(
                f"{where}.raw: {dataset.raw.path}/{dataset.raw.dataset} has shape "
                f"{tuple(raw.shape)}, smaller than the network's input shape {input_shape} "
                f"(architecture_config.input_shape {arch.input_shape})"
            )
        if output_shape is None or not key.startswith("train_configs"):
            continue
        gt = open_array(dataset.gt.path, dataset.gt.dataset)
        if any(g < o for g, o in zip(gt.shape, output_shape)):
            found.append(
                f"{where}.gt: {dataset.gt.path}/{dataset.gt.dataset} has shape "
                f"{tuple(gt.shape)}, smaller than the network's output shape "
                f"{output_shape} (architecture_config.input_shape {arch.input_shape})"
            )
    return found


def split_problems(split: TrainValidateDataSplitConfig) -> list[str]:
    """Each dataset's checks (keyed `train_configs[i].`...), and one raw voxel size for all."""
    found = [f"{key}.{p}" for key, dataset in split.datasets() for p in dataset_problems(dataset)]
    sizes = set()
    for _, dataset in split.datasets():
        if is_pending(dataset.raw.path):
            continue
        try:
            sizes.add(tuple(open_array(dataset.raw.path, dataset.raw.dataset).voxel_size))
        except (FileNotFoundError, ValueError, KeyError):
            pass  # already reported by the dataset itself
    if len(sizes) > 1:
        found.append(f"raw voxel sizes differ between datasets: {sorted(sizes)}")
    return found


def dataset_problems(dataset: RawGTDatasetConfig) -> list[str]:
    """Opens each array's metadata: existence, voxel grid, channels, gt dtype."""
    found = []
    arrays = {"raw": dataset.raw, "gt": dataset.gt, "mask": dataset.mask}
    opened = {}
    for key, array in arrays.items():
        if array is None or is_pending(array.path):
            continue
        try:
            opened[key] = open_array(array.path, array.dataset)
        except (FileNotFoundError, ValueError, KeyError) as error:
            found.append(f"{key}: cannot open {array.path}/{array.dataset}: {error}")
    for key, array in opened.items():
        if 0 in tuple(array.shape):
            found.append(
                f"{key}: {array.path}/{array.dataset} has no voxels (shape {tuple(array.shape)})"
            )
    sizes = {key: tuple(a.voxel_size) for key, a in opened.items()}
    if len(set(sizes.values())) > 1:
        found.append(f"voxel sizes differ between arrays: {sizes}" + _level_hints(dataset, opened))
    elif "raw" in opened:
        raw = opened["raw"]
        for key, array in opened.items():
            shift = array.offset - raw.offset
            if any(s % v for s, v in zip(shift, raw.voxel_size)):
                found.append(
                    f"{key}: offset {tuple(array.offset)} is a fraction of a voxel away "
                    f"from raw's {tuple(raw.offset)}"
                )
        if not any(0 in tuple(a.shape) for a in opened.values()):
            found += _overlap_problems(opened)
    context = dataset.segmentation_context
    if context is not None and "raw" in opened:
        voxel = opened["raw"].voxel_size
        if len(context) != voxel.dims:
            found.append(
                f"segmentation_context: {context} has {len(context)} values; raw is {voxel.dims}D"
            )
        elif any(c % v for c, v in zip(context, voxel)):
            found.append(
                f"segmentation_context: {context} is not whole voxels of raw's {tuple(voxel)}"
            )
    for key, array in opened.items():
        if array.num_channels not in ((None, 1) if key == "raw" else (None,)):
            found.append(f"{key}: has {array.num_channels} channels; expected one")
    if "gt" in opened:
        dtype = opened["gt"].dtype
        if dtype.kind not in "uib":
            found.append(
                f"gt: {dataset.gt.path}/{dataset.gt.dataset} has dtype {dtype}; label ids must be "
                "integers (unsigned, up to uint64)"
            )
    return found


def _level_hints(dataset: RawGTDatasetConfig, opened: dict) -> str:
    """Which multiscale level to use instead, where another level has raw's voxel size
    (or raw has one with the labels' voxel size): arrays are not resampled on read."""
    if "raw" not in opened:
        return ""
    raw = opened["raw"]
    hints = []
    for key, array in opened.items():
        if key == "raw" or array.voxel_size == raw.voxel_size:
            continue
        config = getattr(dataset, key)
        level = level_hint(config.path, config.dataset, raw.voxel_size)
        if level:
            hints.append(f"use {key} dataset {level!r} (voxel size {tuple(raw.voxel_size)})")
            continue
        level = level_hint(dataset.raw.path, dataset.raw.dataset, array.voxel_size)
        if level:
            hints.append(
                f"use raw dataset {level!r} (voxel size {tuple(array.voxel_size)}, as {key})"
            )
    return ("; " + "; ".join(hints)) if hints else "; arrays are not resampled on read"


def _overlap_problems(opened: dict) -> list[str]:
    """gt must overlap raw (the network sees zeros elsewhere), and a mask the gt (it marks
    the annotated gt voxels). ROIs in world units; arrays of one voxel size."""
    found = []
    pairs = (("gt", "raw"), ("mask", "gt"), ("mask", "raw"))
    for key, other in pairs:
        if key not in opened or other not in opened:
            continue
        roi, other_roi = opened[key].roi, opened[other].roi
        if roi.dims == other_roi.dims and roi.intersect(other_roi).empty:
            found.append(
                f"{key}: its ROI {roi} (world units) does not overlap {other}'s {other_roi}; "
                "check the offsets in the arrays' metadata"
            )
            break  # one missing overlap explains the rest
    return found
