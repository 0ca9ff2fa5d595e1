"""The prepare job: check the selected model against the target, fix the block geometry and
hashes in a `Plan`, create the output arrays, write prepared.json."""

from __future__ import annotations

import logging
import os

from funlib.geometry import Coordinate, Roi

from ..config.base import ConfigError
from ..config.predictions import PredictionTarget, short_hash
from ..config.run_config import RunConfig
from ..data.arrays import open_array
from ..data.intensity import percentile_range
from ..data.sampling import raw_range
from ..factory import create_architecture, create_task
from ..store.best_record import BestRecord, BestRecordError
from ..store.weights import load_checkpoint
from ..validation import model_period, warn_if_off_period
from .blocks import fit_network, grid_origin, pyramid_factors
from .checks import pyramid_problems
from .input_checks import verify_input
from .output import create_outputs
from .plan import Plan, SegmentationSpec
from .progress import file_digest

logger = logging.getLogger(__name__)

PLAN_VERSION = 1  # bump when the meaning of stored blocks changes: every block is redone


def read_best(path: str | os.PathLike, target: PredictionTarget) -> BestRecord:
    """The best record of the target's run, checked against the target's criterion / dataset."""
    try:
        best = BestRecord.read(path, target.dataset, target.criterion)
    except BestRecordError as error:
        raise ConfigError(f"prediction {target.name}: {error}") from None
    if best.iteration is None:
        raise ConfigError(f"best JSON {path} names no iteration (no valid score): nothing to apply")
    return best


def build_task(run_config: RunConfig):
    return create_task(run_config.task_config, run_config.datasplit_config.label_ids)


def load_model(run_config: RunConfig, weights_path: str | os.PathLike, task=None):
    """The run's model with the weights of `weights_path` (weights_only load), in eval mode."""
    task = task or build_task(run_config)
    weights = load_checkpoint(weights_path)
    if weights.head_labels is not None and list(weights.head_labels) != list(task.head_labels):
        raise ConfigError(
            f"weights {weights_path}: head labels {weights.head_labels} differ from run "
            f"{run_config.name}'s {task.head_labels}"
        )
    model = task.create_model(create_architecture(run_config.architecture_config))
    try:
        model.load_state_dict(weights.model)
    except RuntimeError as error:
        raise ConfigError(
            f"weights {weights_path} do not fit run {run_config.name}'s model: {error}"
        ) from None
    return model.eval(), weights


def segmentation_spec(
    task, target: PredictionTarget, best: BestRecord, best_path
) -> SegmentationSpec:
    from ..tasks.affinities import AffinitiesTask
    from ..tasks.distance import DistanceTask

    parameters = best.parameters
    if parameters is None:
        if len(task.parameters) != 1:
            raise ConfigError(
                f"best JSON {best_path} has no post-processing parameters, and the task has "
                f"{len(task.parameters)} to choose from"
            )
        parameters = task.parameters[0]
    kinds = [sorted(point) for point in task.parameters]
    if sorted(parameters) not in kinds:
        raise ConfigError(
            f"best JSON {best_path}: parameters {parameters} do not fit the task's "
            f"post-processing grid (keys {kinds})"
        )
    # Every selected post-processing is blockwise: threshold + components exact per block,
    # the mutex watershed and the seeded watershed with a merge (mws_*.py, seeded_*.py); a
    # minimum size is applied by the merge.
    min_size = int(parameters.get("min_size", 0))
    if isinstance(task, AffinitiesTask):
        neighborhood = [list(o) for o in task.neighborhood]
        mode = "mws_exact" if "bias" in parameters else "affinities"
        return SegmentationSpec(mode, parameters, 1, "uint64", neighborhood)
    if isinstance(task, DistanceTask):
        mode = "seeded" if "seed_distance" in parameters else "distance"
        if target.instances:
            return SegmentationSpec(mode, parameters, len(task.channels), "uint64")
        # A 0/1 mask: the seeds do not change it, a minimum size (of its objects) does.
        if min_size > 1:
            return SegmentationSpec(mode, parameters, len(task.channels), "uint8")
        return SegmentationSpec(
            "semantic", {"threshold": parameters["threshold"]}, len(task.channels), "uint8"
        )
    return SegmentationSpec("semantic", parameters, 1, "uint8")


def value_range(task) -> list[float]:
    """Range of the eval-mode output (tanh for distances, sigmoid / softmax otherwise)."""
    from ..tasks.distance import DistanceTask

    return [-1.0, 1.0] if isinstance(task, DistanceTask) else [0.0, 1.0]


def anchored_roi(name: str, roi: Roi, anchor: Coordinate, period: Coordinate) -> Roi:
    """`roi` grown at its start to the block grid validation uses (`grid_origin`): the
    target then predicts each voxel as validation did. Logged when it grows."""
    origin = grid_origin(roi.offset, anchor, period)
    if origin == roi.offset:
        return roi
    grown = Roi(origin, roi.end - origin)
    logger.info(
        "%s: roi %s starts %s world units before its configured %s, on the network's pooling "
        "grid from the input array's offset (as validation's blocks do)",
        name,
        grown,
        tuple(roi.offset - origin),
        roi,
    )
    return grown


def make_plan(
    run_config: RunConfig, weights_path, best_path, target: PredictionTarget, zarr_path
) -> Plan:
    ok, message = target.verify()
    if not ok:
        raise ConfigError("\n".join(f"prediction {target.name}: {m}" for m in message.splitlines()))
    best = read_best(best_path, target)
    task = build_task(run_config)
    model, weights = load_model(run_config, weights_path, task)
    if weights.iteration is not None and weights.iteration != best.iteration:
        raise ConfigError(
            f"weights {weights_path} are from iteration {weights.iteration}, best JSON "
            f"{best_path} names iteration {best.iteration}"
        )
    array = open_array(target.input.path, target.input.dataset)
    found = verify_input(target, array)
    if found:
        raise ConfigError("\n".join(f"prediction {target.name}: {p}" for p in found))
    if array.voxel_size.dims != model.eval_input_shape.dims:
        raise ConfigError(
            f"prediction {target.name}: input {target.input.path}/{target.input.dataset} is "
            f"{array.voxel_size.dims}D, the network runs on {model.eval_input_shape.dims}D data"
        )
    roi = target.roi.roi() if target.roi is not None else array.roi
    input_voxel = array.voxel_size
    output_voxel = Coordinate(model.scale(input_voxel))
    try:
        network = fit_network(
            lambda shape: model.compute_output_shape(shape)[1],
            model.eval_input_shape,
            input_voxel,
            output_voxel,
            target.block_shape,
        )
    except ValueError as error:
        raise ConfigError(f"prediction {target.name}: {error}") from None
    if any((roi.offset - array.offset) % output_voxel) or any(roi.shape % output_voxel):
        raise ConfigError(f"prediction {target.name}: roi {roi} is not on the output voxel grid")
    period = model_period(model, input_voxel)
    roi = anchored_roi(target.name, roi, array.offset, period)
    warn_if_off_period(target.name, network.block_shape, network.block_world, period)
    found = pyramid_problems(target, network.block_shape, output_voxel, run_config)
    if found:
        raise ConfigError("\n".join(f"prediction {target.name}: {p}" for p in found))
    if target.input.percentiles is not None:  # computed once, here; the plan records it
        low, high = percentile_range(array, *target.input.percentiles)
    else:
        low, high = raw_range(array.dtype, target.input.min, target.input.max)
    digest = file_digest(weights_path)
    prediction_hash = short_hash(
        {
            "version": PLAN_VERSION,
            "target": target.prediction_payload(),
            "weights": digest,
            "raw_range": [low, high],
        }
    )
    spec = segmentation_hash = None
    if "segmentation" in target.outputs:
        spec = segmentation_spec(task, target, best, best_path)
        segmentation_hash = short_hash(
            {
                "prediction": prediction_hash,
                "target": target.segmentation_payload(),
                "spec": spec.__dict__,
            }
        )
    logger.info(
        "%s: roi %s, blocks of %s voxels, context %s, raw range [%s, %s]",
        target.name,
        roi,
        tuple(network.block_shape),
        tuple(network.context),
        low,
        high,
    )
    return Plan(
        target=target.model_dump(mode="json"),
        zarr=str(zarr_path),
        roi_offset=list(roi.offset),
        roi_shape=list(roi.shape),
        input_voxel=list(input_voxel),
        output_voxel=list(output_voxel),
        input_shape=list(network.input_shape),
        block_shape=list(network.block_shape),
        context=list(network.context),
        raw_range=[float(low), float(high)],
        channels=list(task.head_labels),
        value_range=value_range(task),
        prediction_hash=prediction_hash,
        segmentation_hash=segmentation_hash,
        weights={"path": str(weights_path), "sha256": digest, "iteration": best.iteration},
        segmentation=spec,
        pyramid_factors=list(pyramid_factors(output_voxel)) if target.pyramid else None,
    )


def prepare(run_config, weights_path, best_path, target, zarr_path, out) -> Plan:
    """Plan, create the outputs (idempotent), then write the plan (the job's output) last."""
    plan = make_plan(run_config, weights_path, best_path, target, zarr_path)
    plan.generations = create_outputs(plan)
    plan.write(out)
    logger.info("%s: %d blocks; plan in %s", target.name, plan.grid.num_blocks, out)
    return plan
