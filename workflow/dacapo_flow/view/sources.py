"""What `dacapo-flow view` shows: the arrays of a prediction target (raw, prediction,
segmentation) or of a run's validation datasets (raw, ground truth, mask), as layers with
world-unit geometry. Paths come from the workflow config and the store layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.base import ConfigError
from ..data.arrays import ZarrArray, open_array
from ..layout import Layout


@dataclass
class Layer:
    name: str
    array: ZarrArray
    kind: str  # "image" or "segmentation"
    channels: list[str] | None = None  # channel names of an image with a channel axis
    window: tuple[float, float] | None = None  # display range of the stored values


def target_layers(config: dict, name: str) -> list[Layer] | None:
    """The layers of prediction target `name`, or None when the config has no such target."""
    from ..config.predictions import PredictionTarget
    from ..predict.output import open_level
    from ..predict.plan import PREDICTION, SEGMENTATION, Plan

    entries = {entry.get("name"): entry for entry in config.get("predictions") or []}
    if name not in entries:
        return None
    target = PredictionTarget.model_validate(entries[name])
    paths = Layout(config.get("store", "results/store")).prediction(name)
    if not Path(paths.prepared).exists():
        raise FileNotFoundError(
            f"prediction {name} has not been prepared ({paths.prepared} is missing): run "
            "snakemake first"
        )
    plan = Plan.read(paths.prepared)
    window = (0.0, 255.0) if plan.target["dtype"] == "uint8" else tuple(plan.value_range)
    layers = [
        Layer("raw", open_array(target.input.path, target.input.dataset), "image"),
        Layer("prediction", open_level(plan, PREDICTION), "image", list(plan.channels), window),
    ]
    if plan.segmentation is not None:
        layers.append(Layer("segmentation", open_level(plan, SEGMENTATION), "segmentation"))
    return layers


def run_layers(config: dict, config_path: str, name: str) -> list[Layer] | None:
    """Raw, ground truth (and mask) of every validation dataset of run `name`; None when
    the config plans no such run."""
    from ..plan.runs import load_plan

    plan = load_plan(config, config_path, check_data=False)
    if name not in plan:
        return None
    layers = []
    for dataset in plan[name].config.datasplit_config.validate_configs:
        layers.append(
            Layer(f"{dataset.name} raw", open_array(dataset.raw.path, dataset.raw.dataset), "image")
        )
        layers.append(
            Layer(
                f"{dataset.name} ground truth",
                open_array(dataset.gt.path, dataset.gt.dataset),
                "segmentation",
            )
        )
        if dataset.mask is not None:
            layers.append(
                Layer(
                    f"{dataset.name} mask",
                    open_array(dataset.mask.path, dataset.mask.dataset),
                    "segmentation",
                )
            )
    return layers


def find_layers(config: dict, config_path: str, name: str) -> list[Layer]:
    """A prediction target's layers, else a run's validation layers; a clear error if
    `name` is neither."""
    layers = target_layers(config, name)
    if layers is None:
        layers = run_layers(config, config_path, name)
    if layers is None:
        targets = sorted(e.get("name") for e in config.get("predictions") or [])
        raise ConfigError(
            f"{config_path}: {name!r} is neither a prediction target ({targets}) nor a run"
        )
    return layers
