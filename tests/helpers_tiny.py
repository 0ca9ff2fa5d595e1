"""Builders for tiny run configs over the bundled synthetic data, shared by the tests of the
integration modules (config, run, training, validation, selection, cli, learning).

The synthetic volumes are written once per test session (per shape) below pytest's base
temporary directory; test modules wrap `synthetic_data_dir` in their own fixture.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.synthetic import write_synthetic_dataset

# 32^3 volumes keep training and validation of the plumbing tests fast; the learning tests
# use the full-size 64^3 volumes, which hold enough objects to learn from.
SMALL_SHAPE = (32, 32, 32)
FULL_SHAPE = (64, 64, 64)
LABEL_IDS = {"mito": [1], "er": [2], "nucleus": [3]}

# One task config per task type, and the synthetic array it is trained on.
TASKS = {
    "distance": (
        {
            "type": "distance",
            "channels": ["nucleus", "mito"],
            "scale_factor": 40.0,
            "thresholds": [-0.2, 0.0, 0.2],
        },
        "labels",
    ),
    "one_hot": ({"type": "one_hot", "classes": ["background", "mito", "er", "nucleus"]}, "labels"),
    "affinities": (
        {
            "type": "affinities",
            "neighborhood": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
            # Milder class balancing than the default: fewer false edges in the background,
            # which a connected-components segmentation punishes hard.
            "clipmin": 0.3,
            "clipmax": 0.7,
            "thresholds": [0.5, 0.7, 0.9, 0.95],
        },
        "instances",
    ),
}


def synthetic_data_dir(tmp_path_factory, shape=SMALL_SHAPE) -> Path:
    """The synthetic train_0 / train_1 / validate_0 containers of `shape`, written once."""
    root = tmp_path_factory.getbasetemp() / ("synthetic_" + "x".join(str(s) for s in shape))
    marker = root / "complete"
    if not marker.exists():
        write_synthetic_dataset(root, seed=0, shape=shape)
        marker.touch()
    return root


def dataset_entry(data_dir: Path, name: str, volume: str, gt: str, mask: bool = True) -> dict:
    container = str(Path(data_dir) / f"{volume}.zarr")
    entry = {
        "name": name,
        # Raw mapped to [-1, 1]: centred inputs let the tiny networks learn in few steps.
        "raw": {"path": container, "dataset": "raw", "min": 127.5, "max": 255.0},
        "gt": {"path": container, "dataset": gt},
    }
    if mask:
        entry["mask"] = {"path": container, "dataset": "mask"}
    return entry


def dataset(data, name="train_0", volume="train_0", **changes):
    """A RawGTDatasetConfig of a synthetic volume (gt "labels"), `changes` applied."""
    from dacapo_flow.config.datasplits import RawGTDatasetConfig

    entry = dataset_entry(data, name, volume, "labels")
    entry.update(changes)
    return RawGTDatasetConfig.model_validate(entry)


def split(train, validate=()):
    """A train/validate datasplit of `dataset`s, label mito = 1."""
    from dacapo_flow.config.datasplits import TrainValidateDataSplitConfig

    return TrainValidateDataSplitConfig(
        label_ids={"mito": [1]}, train_configs=list(train), validate_configs=list(validate)
    )


def run_config_dict(
    data_dir,
    task: str = "distance",
    name: str = "tiny",
    num_iterations: int = 4,
    validation_interval: int = 2,
    input_shape: int = 20,
    fmaps: int = 4,
    eval_shape_increase: int = 8,
    learning_rate: float = 1e-3,
    num_data_fetchers: int = 0,
    **extra,
) -> dict:
    """A run config as the dict a user would write in YAML (paths as strings)."""
    task_config, gt = TASKS[task]
    label_ids = {} if task == "affinities" else dict(LABEL_IDS)
    data = {
        "name": name,
        "num_iterations": num_iterations,
        "validation_interval": validation_interval,
        "task_config": copy.deepcopy(task_config),
        "architecture_config": {
            "type": "cnnectome_unet",
            "input_shape": [input_shape] * 3,
            "fmaps_out": fmaps,
            "num_fmaps": fmaps,
            "fmap_inc_factor": 2,
            "downsample_factors": [[2, 2, 2]],
            "eval_shape_increase": [eval_shape_increase] * 3,
        },
        "trainer_config": {
            "batch_size": 1,
            "learning_rate": learning_rate,
            "num_data_fetchers": num_data_fetchers,
        },
        "datasplit_config": {
            "type": "train_validate",
            "name": "synthetic",
            "label_ids": label_ids,
            "train_configs": [
                dataset_entry(data_dir, "train_0", "train_0", gt),
                dataset_entry(data_dir, "train_1", "train_1", gt),
            ],
            "validate_configs": [dataset_entry(data_dir, "validate_0", "validate_0", gt)],
        },
    }
    return merged(data, extra)


def merged(data: dict, changes: dict) -> dict:
    """A deep copy of `data` with `changes` merged in (nested dicts merge, the rest replaces)."""
    result = copy.deepcopy(data)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def tiny_run_config(data_dir, task: str = "distance", **kwargs) -> RunConfig:
    """A verified RunConfig (values and arrays) built from `run_config_dict`."""
    from dacapo_flow.data.array_checks import verify_run_data

    config = RunConfig.model_validate(run_config_dict(data_dir, task, **kwargs))
    ok, message = config.verify()
    assert ok, message
    return verify_run_data(config, "tiny_run_config")


def write_yaml(path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextmanager
def torch_threads(count: int):
    """Run with `count` intra-op threads (1 is fast and deterministic on small CPU boxes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def assert_same_state(a, b, where: str = "state") -> None:
    """Recursively equal: tensors bit for bit (torch.equal), everything else by ==."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        assert torch.is_tensor(a) and torch.is_tensor(b), f"{where}: tensor vs non-tensor"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: dtype/shape differ"
        assert torch.equal(a, b), f"{where}: tensors differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys differ"
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def train_to(config: RunConfig, store, iteration: int, **kwargs) -> Path:
    """Train one chunk of `config` into the store layout under `store` (what the workflow's
    train_chunk rule hands the CLI)."""
    from dacapo_flow.layout import Layout
    from dacapo_flow.training import train_chunk

    layout = Layout(store)
    kwargs.setdefault("progress", False)
    return train_chunk(
        config,
        iteration,
        out=layout.checkpoint(config.name, iteration),
        stats_out=layout.chunk_stats(config.name, iteration),
        **kwargs,
    )


def validate_at(config: RunConfig, store, iteration: int, device=None) -> Path:
    """Validate checkpoint `iteration` of `config` in the store layout under `store`."""
    from dacapo_flow.layout import Layout
    from dacapo_flow.validation import validate_checkpoint

    layout = Layout(store)
    return validate_checkpoint(
        config,
        layout.checkpoint(config.name, iteration),
        layout.checkpoint_scores(config.name, iteration),
        layout.scratch(config.name),
        device,
    )
