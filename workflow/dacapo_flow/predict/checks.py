"""Checks of the workflow's prediction targets before any job: `check_targets`, run by
`load_plan` (so `dacapo-flow check` and the Snakefile report them, file and key named).

Torch-free: the block geometry is traced from the run config (`network_output_shape`, the
same shape functions the network uses). Without `check_data` only the values are checked; with
it the input array is opened (metadata) and, for float inputs up to `MAX_SCAN_VOXELS`, its ROI
scanned for NaN and infinities. The prepare job repeats the geometry checks with the model
itself, so a target that passes here is one it accepts.
"""

from __future__ import annotations

import math

from funlib.geometry import Coordinate

from ..config.architectures import MAX_INPUT_VOXELS
from ..config.base import ConfigError
from ..config.predictions import PredictionTarget
from .blocks import NetworkGeometry, fit_network, pyramid_factors
from .input_checks import normalisation_problems, verify_input

# A float input larger than this (in ROI voxels) is not scanned here: each shard checks the
# blocks it reads instead (`shard.BlockPredictor.read`).
MAX_SCAN_VOXELS = 2**30
_SLAB_VOXELS = 2**24
AXIS_NAMES = {1: ["x"], 2: ["y", "x"], 3: ["z", "y", "x"]}


def check_targets(targets: list[PredictionTarget], plan: dict, source: str, check_data: bool):
    """Every target names a planned run, a criterion it selects and one of its validation
    datasets, unique names, a block shape the network takes, and (with `check_data`) an
    input array that exists and fits (dimensions, voxel size, values, pyramid). Raises
    ConfigError naming `source` and the key."""
    found, names = [], set()
    for i, target in enumerate(targets):
        where = f"{source}: predictions[{i}]"
        if target.name in names:
            found.append(f"{where}.name: {target.name!r} is used twice")
        names.add(target.name)
        own = target.problems()
        run = plan.get(target.run)
        if run is None:
            found += [f"{where}.{p}" for p in own]
            found.append(f"{where}.run: unknown run {target.run!r}; known: {sorted(plan)}")
            continue
        own += run.config.best_record_problems(target.criterion, target.dataset)
        if not own:
            own += geometry_problems(target, run.config)
        if check_data and not own:
            own += input_problems(target, run.config)
        found += [f"{where}.{p}" for p in own]
    if found:
        raise ConfigError("\n".join(found))


# The exact mutex watershed's merge holds the target's whole region graph in one job. Peak
# bytes per voxel of the ROI measured on the CREMI crop (bench/README), blocks contracted: 144
# at bias 0.25 (a fragment per ~6.5 voxels), 357 at bias 0.5, where no voxel edge outranks the
# repulsive ones (a fragment per ~2 voxels). Above the warning, say so before any job.
MWS_MERGE_BYTES_PER_VOXEL = 150  # biases below 0.5
MWS_MERGE_BYTES_PER_VOXEL_HIGH = 400  # a grid with a bias of 0.5 or more
MWS_MERGE_WARN_BYTES = 16 * 2**30


def mws_merge_bytes(target: PredictionTarget, run) -> int | None:
    """What the target's segment_merge job holds when its run can select the mutex watershed
    and it writes a segmentation (150 or 400 B a voxel of its ROI, by the largest bias of
    the grid), else None. Opens the input's metadata (its voxel size, and its ROI where the
    target gives none); None where the input cannot be opened yet."""
    from ..config.datasplits import is_pending
    from ..data.arrays import open_array

    post = getattr(run.config.task_config, "post_processing", None) if run else None
    if getattr(post, "mws", None) is None or "segmentation" not in target.outputs:
        return None
    if is_pending(target.input.path):
        return None
    try:
        array = open_array(target.input.path, target.input.dataset)
    except Exception:  # noqa: BLE001 - check_targets reports it
        return None
    roi = target.roi.roi() if target.roi is not None else array.roi
    high = max(post.mws.biases) >= 0.5
    per_voxel = MWS_MERGE_BYTES_PER_VOXEL_HIGH if high else MWS_MERGE_BYTES_PER_VOXEL
    return math.prod(roi.shape / array.voxel_size) * per_voxel


def target_warnings(targets: list[PredictionTarget], plan: dict, source: str) -> list[str]:
    """`file: key: message` warnings about targets whose jobs will need more than a
    workstation has: a mutex watershed merge of a large ROI (its run can select the mutex
    watershed, and the target writes a segmentation). Opens each such input's metadata."""
    found = []
    for i, target in enumerate(targets):
        need = mws_merge_bytes(target, plan.get(target.run))
        if need is not None and need > MWS_MERGE_WARN_BYTES:
            found.append(
                f"{source}: predictions[{i}] ({target.name}): run {target.run!r} can select "
                f"the mutex watershed, whose merge job holds the region graph of the whole "
                f"roi at once: ~{need / 2**30:.0f} GiB at its grid's largest bias; the "
                "workflow asks that memory of segment_merge (mem_mb), so give it a node that "
                "has it or split the roi into several targets"
            )
    return found


def merge_mem_mb(target: PredictionTarget, run, attempt: int = 1) -> int:
    """segment_merge's memory request (MB): the mutex watershed estimate where it applies,
    at least 2000 (the profiles' default), times the attempt (a retry after an OOM kill)."""
    need = mws_merge_bytes(target, run) or 0
    return max(2000, math.ceil(need / 1e6)) * attempt


# -- geometry (values only) --------------------------------------------------------------------


def network_output_shape(run_config):
    """The run's network's spatial output shape for a data-shaped input (section axis
    included), traced without torch: U-Net, then the task's head convolution. Raises
    ValueError for inputs it cannot take."""
    arch = run_config.architecture_config
    kernel = run_config.task_config.head_kernel_size()
    pad = kernel // 2 if arch.padding == "same" else 0

    def output_shape_of(shape) -> Coordinate:
        shape = [int(s) for s in shape]
        sections = shape.pop(arch.section_axis) if arch.section_axis is not None else None
        out = [s + 2 * pad - (kernel - 1) for s in arch.output_shape(shape)]
        if min(out) < 1:
            raise ValueError(f"input shape {tuple(shape)} leaves nothing after the head")
        if sections is not None:
            out.insert(arch.section_axis, sections)
        return Coordinate(out)

    return output_shape_of


def network_steps(run_config) -> Coordinate:
    """Per data axis, the total downsampling: fitting blocks differ by multiples of it."""
    arch = run_config.architecture_config
    steps = [math.prod(f[d] for f in arch.downsample_factors) for d in range(arch.dims)]
    return Coordinate(arch.data_shape(steps, 1))


def fit_target(target: PredictionTarget, run_config) -> NetworkGeometry:
    """The block geometry of `target` in voxels (the input's voxel size does not change it:
    the output voxel size is the input's). Raises ValueError naming the problem."""
    arch = run_config.architecture_config
    ones = Coordinate((1,) * arch.data_dims)
    eval_input = arch.data_shape(arch.eval_input_shape(), 1)
    output_shape_of = network_output_shape(run_config)
    return fit_network(output_shape_of, eval_input, ones, ones, target.block_shape)


def geometry_problems(target: PredictionTarget, run_config) -> list[str]:
    """`block_shape: ...` problems: dimensions, fit with the network, memory per block."""
    arch = run_config.architecture_config
    if arch.problems():
        return []  # the run's own checks name them; nothing can be traced
    block = target.block_shape
    if block is not None and len(block) != arch.data_dims:
        message = (
            f"block_shape: {block} has {len(block)} values; run {target.run!r}'s network runs "
            f"on {arch.data_dims}D data (one value per axis, in output voxels)"
        )
        return [message]
    try:
        network = fit_target(target, run_config)
    except ValueError as error:
        return [f"block_shape: {str(error).removeprefix('block_shape ')}"]
    voxels = math.prod(network.input_shape)
    if voxels > MAX_INPUT_VOXELS:
        message = (
            f"block_shape: {block} needs a network input of {tuple(network.input_shape)} = "
            f"{voxels} voxels per block; at most {MAX_INPUT_VOXELS} (use smaller blocks and "
            "more shards)"
        )
        return [message]
    return []


def pyramid_problems(target: PredictionTarget, block_shape, voxel_size, run_config=None):
    """`pyramid` needs blocks divisible by s1's factors (each block writes its own s1 chunk).
    With `run_config`, the message suggests a block shape that fits the network."""
    if not target.pyramid:
        return []
    voxel, block = Coordinate(voxel_size), Coordinate(block_shape)
    factors = pyramid_factors(voxel)
    names = AXIS_NAMES.get(voxel.dims, [str(a) for a in range(voxel.dims)])
    uneven = [a for a, (b, f) in enumerate(zip(block, factors)) if b % f]
    if not uneven:
        return []
    halved = [names[a] for a, f in enumerate(factors) if f > 1]
    key = "block_shape" if target.block_shape is not None else "pyramid"
    what = "block_shape" if target.block_shape is not None else "the default block shape"
    message = (
        f"{key}: target {target.name!r}: s1 halves {', '.join(halved)} (voxel size "
        f"{tuple(voxel)} -> {tuple(voxel * factors)}), so blocks must be even there; "
        f"{what} {tuple(block)} is odd along {', '.join(names[a] for a in uneven)}"
    )
    if run_config is not None:
        message += _even_block_hint(target, block, factors, run_config, names)
    return [message]


def _even_block_hint(target, block, factors, run_config, names) -> str:
    steps = network_steps(run_config)
    shape = list(block)
    for axis, (b, f) in enumerate(zip(block, factors)):
        if b % f and steps[axis] % f:
            shape[axis] = b + steps[axis]  # an odd step turns an odd size even
        elif b % f:
            return (
                f": every block this network takes is odd along {names[axis]} (blocks differ by "
                f"multiples of {steps[axis]}), so pyramid: true cannot be used with run "
                f"{target.run!r}"
            )
    try:
        fit_target(target.model_copy(update={"block_shape": shape}), run_config)
    except ValueError:
        return ": set block_shape to a shape the network takes that is even there"
    return f": set block_shape: {shape}"


# -- the input array (check_data) ------------------------------------------------------------


def input_problems(target: PredictionTarget, run_config) -> list[str]:
    """Problems of the target's opened input: channels, ROI, dimensions, voxel size (the
    training raw's), NaN / infinite values, normalisation, pyramid."""
    from ..config.datasplits import is_pending
    from ..data.arrays import open_array  # lazy: only with check_data are arrays opened

    if is_pending(target.input.path):
        return []
    try:
        array = open_array(target.input.path, target.input.dataset)
    except Exception as error:  # noqa: BLE001 - reported with the key, before any job
        return [f"input: cannot open {target.input.path}/{target.input.dataset}: {error}"]
    where = f"input: {target.input.path}/{target.input.dataset}"
    arch = run_config.architecture_config
    if array.voxel_size.dims != arch.data_dims:
        message = (
            f"{where} is {array.voxel_size.dims}D; run {target.run!r}'s network runs on "
            f"{arch.data_dims}D data"
        )
        return [message]
    found = verify_input(target, array)
    found += _voxel_size_problems(target, array, run_config)
    if found:
        return found
    roi = target.roi.roi() if target.roi is not None else array.roi
    found += _value_problems(array, roi, where)
    found += normalisation_problems(target, array, run_config)
    if not arch.problems():
        block = fit_target(target, run_config).block_shape
        found += pyramid_problems(target, block, array.voxel_size, run_config)
    return found


def _voxel_size_problems(target: PredictionTarget, array, run_config) -> list[str]:
    """A network applied at another resolution than it trained at gives wrong predictions."""
    from ..config.datasplits import is_pending
    from ..data.arrays import level_hint, open_array

    trained = set()
    for _, dataset in run_config.datasplit_config.datasets():
        raw = dataset.raw
        if is_pending(raw.path):
            continue
        try:
            trained.add(tuple(open_array(raw.path, raw.dataset).voxel_size))
        except Exception:  # noqa: BLE001, S112 - the run's own data checks name it
            continue
    if not trained or tuple(array.voxel_size) in trained:
        return []
    sizes = " or ".join(str(s) for s in sorted(trained))
    hints = [level_hint(target.input.path, target.input.dataset, s) for s in sorted(trained)]
    hint = next((f"; use dataset {h!r}, which has it" for h in hints if h), "")
    message = (
        f"input: {target.input.path}/{target.input.dataset} has voxel size "
        f"{tuple(array.voxel_size)}, but run {target.run!r} trained on raw of voxel size "
        f"{sizes}{hint}"
    )
    return [message]


def _value_problems(array, roi, where: str) -> list[str]:
    """NaN or infinite voxels in a float input's ROI (they spread through the network)."""
    import numpy as np
    from funlib.geometry import Roi

    if array.dtype.kind != "f":
        return []
    shape = roi.shape / array.voxel_size
    if math.prod(shape) > MAX_SCAN_VOXELS:
        return []
    step = max(1, _SLAB_VOXELS // max(1, math.prod(shape[1:])))
    bad = 0
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        offset = Coordinate((start,) + (0,) * (shape.dims - 1)) * array.voxel_size
        size = Coordinate((stop - start,) + tuple(shape[1:])) * array.voxel_size
        bad += int(np.count_nonzero(~np.isfinite(array.read(Roi(roi.offset + offset, size)))))
    if not bad:
        return []
    message = (
        f"{where} holds {bad} NaN or infinite voxels in the region to predict; the network "
        "would spread them over their blocks (fill or crop them in the data, or set roi)"
    )
    return [message]
