"""A selected model (run config + winning weights + best JSON) and the facts every export
needs: the network in eval mode, voxel sizes, raw intensity range, valid input sizes and the
output's offset, and its provenance.

The raw intensity range is the one validation normalised the selection dataset with (the
validation dataset the best JSON names): its min/max, or its percentile range read from the
run's normalisation record, through the same code (`SamplerDataset.from_config`). So an
exported model computes on that dataset exactly what the workflow computed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from funlib.geometry import Coordinate

from dacapo_flow.config.exports import selection_dataset_config
from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.sampling import SamplerDataset
from dacapo_flow.factory import create_architecture, create_task
from dacapo_flow.nn.model import Model
from dacapo_flow.store.best_record import BestRecord
from dacapo_flow.store.weights import load_checkpoint

_ACTIVATIONS = {type(None): None, torch.nn.Sigmoid: "sigmoid", torch.nn.Softmax: "softmax"}


@dataclass
class SelectedModel:
    run_config: RunConfig
    model: Model  # eval mode, weights loaded
    head: dict  # kwargs of the packaged `dacapo_flow_model`: channels, kernel, activation
    head_labels: list[str]
    voxel_size: Coordinate  # input, world units (nm)
    output_voxel_size: Coordinate
    raw_range: tuple[float, float]  # raw intensities mapped to 0 and 1
    selection: SamplerDataset  # the validation dataset it was selected on, as validation read it
    min_input_shape: Coordinate  # smallest valid input, voxels
    input_step: Coordinate  # valid inputs: min + k * step
    output_offset: list[int]  # out = in * in_scale / out_scale + offset, per axis
    provenance: dict = field(default_factory=dict)

    @property
    def normalisation(self) -> dict:
        """How raw intensities are mapped to 0..1, and where the range comes from."""
        raw = self.selection.raw
        config = self.selection_config.raw
        how = (
            {"percentiles": list(config.percentiles)}
            if config.percentiles is not None
            else {"min": config.min, "max": config.max}  # None: the dtype's range
        )
        return {
            "dataset": self.provenance["dataset"],
            "raw": f"{raw.path}/{raw.dataset}",
            "dtype": str(raw.dtype),
            **how,
            "range": list(self.raw_range),
        }

    @property
    def selection_config(self):
        return selection_dataset_config(self.run_config, self.provenance["dataset"])

    def output_shape(self, input_shape) -> Coordinate:
        return self.model.architecture.output_shape_for(input_shape)


def _valid(architecture, shape) -> bool:
    try:
        architecture.output_shape_for(shape)
    except ValueError:
        return False
    return True


def input_sizes(architecture) -> tuple[Coordinate, Coordinate]:
    """(smallest valid input shape, step between valid shapes), per axis: the other axes stay
    at the training input shape while one is varied."""
    base = list(architecture.input_shape)
    minimum, step = [], []
    for axis in range(len(base)):

        def ok(size, axis=axis):
            return _valid(architecture, base[:axis] + [size] + base[axis + 1 :])

        valid = [s for s in range(1, base[axis] + 1) if ok(s)]
        following = next(s for s in range(valid[0] + 1, 4 * base[axis] + 2) if ok(s))
        minimum.append(valid[0])
        step.append(following - valid[0])
    return Coordinate(minimum), Coordinate(step)


def output_offset(selected_shape_fn, minimum, step, ratio) -> list[int]:
    """Per-axis offset of out = in * ratio + offset, checked on three valid sizes."""
    offsets = []
    for axis in range(len(minimum)):
        values = set()
        for k in range(3):
            shape = [m + k * s for m, s in zip(minimum, step)]
            out = selected_shape_fn(shape)[axis]
            values.add(out - shape[axis] * ratio[axis])
        if len(values) != 1 or any(v != int(v) for v in values):
            raise ValueError(f"output size is not in * {ratio[axis]} + offset on axis {axis}")
        offsets.append(int(values.pop()))
    return offsets


def load_selected(
    run_config: str | os.PathLike,
    weights: str | os.PathLike,
    best: str | os.PathLike,
    voxel_size=None,
    upstream: str | None = None,
    normalisation: str | os.PathLike | None = None,
) -> SelectedModel:
    """Build the run's model with the winning weights. `run_config`: the run's resolved
    config (or its file). `voxel_size` defaults to the first training raw array's (opened
    from the config). `normalisation`: the run's record of the
    selection dataset's percentile range (read, never written; without it, the range is
    computed as the normalisation job computes it)."""
    if isinstance(run_config, RunConfig):
        config = run_config
    else:
        config = load_run_config(Path(run_config), verify=False)
    record = BestRecord.read(best)
    try:
        selection_config = selection_dataset_config(config, record.dataset)
    except ValueError as error:
        raise ValueError(f"{best}: {error}") from None
    selection = SamplerDataset.from_config(
        selection_config,
        record=None if normalisation is None else Path(normalisation),
        write_record=False,
    )
    task = create_task(config.task_config, config.datasplit_config.label_ids)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = task.create_model(create_architecture(config.architecture_config))
    checkpoint = load_checkpoint(weights)
    model.load_state_dict(checkpoint.model)
    model.eval()
    if voxel_size is None:
        raw = config.datasplit_config.train_configs[0].raw
        voxel_size = open_array(raw.path, raw.dataset).voxel_size
    voxel_size = Coordinate(voxel_size)
    out_voxel = model.scale(voxel_size)
    minimum, step = input_sizes(model.architecture)
    ratio = [v / o for v, o in zip(voxel_size, out_voxel)]
    activation = model.eval_activation
    head = {
        "channels": len(task.head_labels),
        "kernel_size": task.head_kernel_size,
        "activation": _ACTIVATIONS[type(activation)],
    }
    provenance = {
        "run": config.name,
        "repetition": config.repetition,
        "iteration": record.iteration,
        "dataset": record.dataset,
        "criterion": record.criterion,
        "score": record.score,
        "higher_is_better": record.higher_is_better,
        "post_processing": record.parameters,
        "upstream_run": upstream
        or (config.start_config.run if getattr(config.start_config, "run", None) else None),
        "config_hash": config.stage_hash("train"),
    }
    return SelectedModel(
        run_config=config,
        model=model,
        head=head,
        head_labels=list(task.head_labels),
        voxel_size=voxel_size,
        output_voxel_size=out_voxel,
        raw_range=(float(selection.raw_min), float(selection.raw_max)),
        selection=selection,
        min_input_shape=minimum,
        input_step=step,
        output_offset=output_offset(model.architecture.output_shape_for, minimum, step, ratio),
        provenance=provenance,
    )
