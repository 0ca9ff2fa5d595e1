"""DaCapo 0.3.5 run configs (`<store>/configs/runs/<run>.yaml`) -> dacapo-flow run config dicts.

DaCapo's FileConfigStore writes cattrs dicts with `__type__` class names and `!!python/tuple`
tags. They are read with a SafeLoader that turns tuples into lists and constructs nothing else.

`translate_run` maps what has a faithful dacapo-flow equivalent and lists everything else by
key path with the reason (`untranslated`); it never guesses a value. Values equal to
dacapo-flow's fixed behaviour (e.g. `use_attention: false`) translate to nothing. Keys that
carry no behaviour are dropped silently: `name` of sub-configs, zarr `mode`, and the trainer's
`min_masked` (stored but never read by DaCapo 0.3.5). DaCapo 0.3.5's fixed 1000-step linear LR
warm-up becomes `warmup_iterations: 1000`.

Data paths are copied as they are; whether the arrays exist is checked by `verify()` later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.datasplits import NONZERO
from dacapo_flow.config.post_processing import MWS_BIASES

_DROPPED = {"__type__", "name", "mode"}
DACAPO_WARMUP_ITERATIONS = 1000  # GunpowderTrainer: LinearLR(0.01 -> 1, total_iters=1000)


class DaCapoYamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads `!!python/tuple` (as a list); no other python/* tag."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> list:
    return loader.construct_sequence(node, deep=True)


DaCapoYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


def dacapo_run_yaml(store: str | os.PathLike, run: str) -> Path:
    """Where DaCapo's files config store keeps run `run`'s config."""
    return Path(store) / "configs" / "runs" / f"{run}.yaml"


def load_dacapo_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=DaCapoYamlLoader)  # a SafeLoader subclass
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not a DaCapo config YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


class _Translation:
    def __init__(self):
        self.untranslated: list[str] = []

    def skip(self, path: str, value: Any, reason: str) -> None:
        self.untranslated.append(f"{path} = {value!r}: {reason}")

    def fields(self, d: dict, path: str, copy: dict, neutral: dict, reasons: dict) -> dict:
        """Copy `copy` keys (DaCapo name -> ours); accept `neutral` values; list the rest."""
        out = {}
        for key, value in d.items():
            if key in _DROPPED:
                continue
            if key in copy:
                if value is not None:
                    out[copy[key]] = value
            elif key in neutral and value == neutral[key]:
                continue
            else:
                self.skip(f"{path}.{key}", value, reasons.get(key, "no dacapo-flow equivalent"))
        return out

    def wrong_type(self, d: Any, path: str, expected: str) -> bool:
        kind = d.get("__type__") if isinstance(d, dict) else type(d).__name__
        if kind == expected:
            return False
        self.skip(path, kind, f"only {expected} is translated")
        return True


# --- architecture ---------------------------------------------------------------------------
_UNET_FIELDS = [
    "input_shape", "fmaps_in", "fmaps_out", "num_fmaps", "fmap_inc_factor",
    "downsample_factors", "kernel_size_down", "kernel_size_up", "upsample_factors",
    "constant_upsample", "padding", "batch_norm",
]  # fmt: skip


def _architecture(t: _Translation, d: dict) -> dict | None:
    if t.wrong_type(d, "architecture_config", "CNNectomeUNetConfig"):
        return None
    copy = {key: key for key in _UNET_FIELDS} | {"_eval_shape_increase": "eval_shape_increase"}
    neutral = {"use_attention": False}
    reasons = {"use_attention": "dacapo-flow's UNet has no attention gates"}
    return {"type": "cnnectome_unet"} | t.fields(d, "architecture_config", copy, neutral, reasons)


# --- task -----------------------------------------------------------------------------------
def _task(t: _Translation, d: dict) -> dict | None:
    kind = d.get("__type__") if isinstance(d, dict) else None
    path = "task_config"
    if kind == "DistanceTaskConfig":
        copy = {k: k for k in ("channels", "scale_factor", "clipmin", "clipmax", "tol_distance")}
        reasons = {
            "clip_distance": "dacapo-flow has no *_clipped metrics it would clip",
            "mask_distances": "dacapo-flow does not mask distances that the crop edge makes "
            "uncertain",
        }
        return {"type": "distance"} | t.fields(d, path, copy, {"mask_distances": False}, reasons)
    if kind == "OneHotTaskConfig":
        kernel = d.get("kernel_size") or 3  # DaCapo 0.3.5: None means 3 (deprecated default)
        rest = {k: v for k, v in d.items() if k != "kernel_size"}
        return {"type": "one_hot", "kernel_size": kernel} | t.fields(
            rest, path, {"classes": "classes"}, {}, {}
        )
    if kind == "AffinitiesTaskConfig":
        copy = {
            "neighborhood": "neighborhood",
            "affs_weight_clipmin": "clipmin",
            "affs_weight_clipmax": "clipmax",
        }
        neutral = {"background_as_object": False}
        if d.get("lsds"):
            # Trained here (DaCapo 0.3.5's head had no LSD channels); their weights are
            # balanced with the affinities' clip values.
            copy |= {k: k for k in ("lsds", "num_lsd_voxels", "downsample_lsds")}
            copy["lsds_to_affs_weight_ratio"] = "lsds_to_affs_weight_ratio"
            neutral["lsd_weight_clipmin"] = d.get("affs_weight_clipmin", 0.05)
            neutral["lsd_weight_clipmax"] = d.get("affs_weight_clipmax", 0.95)
        else:  # only read by DaCapo when lsds is on
            neutral["lsds"] = d.get("lsds")
            for key in ("num_lsd_voxels", "downsample_lsds", "lsds_to_affs_weight_ratio"):
                neutral[key] = d.get(key)
            for key in ("lsd_weight_clipmin", "lsd_weight_clipmax"):
                neutral[key] = d.get(key)
        reasons = {
            "lsd_weight_clipmin": "LSD weights are clipped like the affinities' (affs_weight_*)",
            "lsd_weight_clipmax": "LSD weights are clipped like the affinities' (affs_weight_*)",
        }
        # DaCapo segments affinities with its WatershedPostProcessor: the mutex watershed grid.
        post_processing = {"mws": {"biases": list(MWS_BIASES)}}
        translated = {"type": "affinities"} | t.fields(d, path, copy, neutral, reasons)
        return translated | {"post_processing": post_processing}
    t.skip(path, kind, "only Distance, OneHot and Affinities tasks are translated")
    return None


# --- trainer --------------------------------------------------------------------------------
def _augment(t: _Translation, d: dict, path: str) -> list[dict]:
    kind = d.get("__type__")
    p = d.get("augmentation_probability", 1.0)
    if kind == "SimpleAugmentConfig" and p == 1.0:
        # gunpowder SimpleAugment: every axis mirrored with p 0.5, axes randomly permuted.
        return [{"type": "mirror", "p": 0.5}, {"type": "transpose", "p": 1.0}]
    if kind == "IntensityAugmentConfig" and d.get("clip", True):
        return [{"type": "intensity", "scale": d["scale"], "shift": d["shift"], "p": p}]
    if kind == "GammaAugmentConfig":
        return [{"type": "gamma", "range": d["gamma_range"], "p": 1.0}]
    reasons = {
        "SimpleAugmentConfig": "applied with probability < 1 as a whole (ours: per augment)",
        "IntensityAugmentConfig": "clip: false (dacapo-flow always clips to [0, 1])",
        "ElasticAugmentConfig": "displacement sigma is in world units (ours: voxels) and "
        "rotations have no equivalent",
    }
    t.skip(path, kind, reasons.get(kind, "no dacapo-flow equivalent"))
    return []


def _trainer(t: _Translation, d: dict, run: dict) -> dict | None:
    if t.wrong_type(d, "trainer_config", "GunpowderTrainerConfig"):
        return None
    path = "trainer_config"
    copy = {k: k for k in ("batch_size", "learning_rate", "num_data_fetchers")}
    neutral = {"clip_raw": False, "gt_min_reject": None, "snapshot_interval": None}
    neutral |= {"min_masked": d.get("min_masked"), "augments": d.get("augments")}
    reasons = {
        "clip_raw": "dacapo-flow does not crop raw to the gt ROI",
        "gt_min_reject": "dacapo-flow rejects no batches by gt content",
        "snapshot_interval": "dacapo-flow writes no training snapshots",
    }
    out = t.fields(d, path, copy, neutral, reasons)
    for key in ("batch_size", "learning_rate"):  # DaCapo after 0.3.5 keeps them on the run
        if run.get(key) is not None:
            out[key] = run[key]
    out["warmup_iterations"] = DACAPO_WARMUP_ITERATIONS
    augments = []
    for i, augment in enumerate(d.get("augments") or []):
        augments += _augment(t, augment, f"{path}.augments[{i}]")
    if augments:
        out["augments"] = augments
    return out


# --- datasplit ------------------------------------------------------------------------------
def _zarr(t: _Translation, d: dict, path: str) -> dict | None:
    if t.wrong_type(d, path, "ZarrArrayConfig"):
        return None
    neutral = {"snap_to_grid": None, "_axes": None, "axes": None}
    out = t.fields(d, path, {"file_name": "path", "dataset": "dataset"}, neutral, {})
    return out if {"path", "dataset"} <= set(out) else None


def _raw(t: _Translation, d: dict, path: str) -> dict | None:
    if isinstance(d, dict) and d.get("__type__") == "IntensitiesArrayConfig":
        source = _zarr(t, d.get("source_array_config"), f"{path}.source_array_config")
        return None if source is None else source | {"min": d["min"], "max": d["max"]}
    source = _zarr(t, d, path)
    # A bare zarr raw reaches DaCapo's network unscaled: min 0, max 1 is the identity.
    return None if source is None else source | {"min": 0, "max": 1}


def _gt(t: _Translation, d: dict, path: str, task: dict | None) -> tuple[dict | None, dict]:
    """(gt array, label_ids) of one dataset."""
    kind = task.get("type") if task else None
    if isinstance(d, dict) and d.get("__type__") == "BinarizeArrayConfig" and kind == "distance":
        groupings, background = d.get("groupings") or [], d.get("background", 0)
        channels = task.get("channels") or []
        if len(groupings) != len(channels):
            t.skip(f"{path}.groupings", groupings, f"{len(channels)} task channels need as many")
            return None, {}
        label_ids = {}
        for i, (channel, (_, ids)) in enumerate(zip(channels, groupings)):
            if ids:
                label_ids[channel] = [int(x) for x in ids]
            elif background == 0:
                label_ids[channel] = NONZERO  # DaCapo: an empty grouping is `gt != background`
            else:
                t.skip(f"{path}.background", background, "label_ids 'nonzero' means != 0")
        # DaCapo pairs grouping i with task channel i (by position, not by name).
        return _zarr(t, d.get("source_array_config"), f"{path}.source_array_config"), label_ids
    if kind in ("affinities", "one_hot"):
        label_ids = {c: [i] for i, c in enumerate(task.get("classes") or [])}  # id i -> class i
        return _zarr(t, d, path), label_ids
    t.skip(path, d.get("__type__") if isinstance(d, dict) else d, f"no gt translation for {kind}")
    return None, {}


def _dataset(t: _Translation, d: dict, path: str, task: dict | None) -> tuple[dict, dict]:
    if t.wrong_type(d, path, "RawGTDatasetConfig"):
        return {}, {}
    out = {"name": d.get("name"), "weight": d.get("weight", 1)}
    out["raw"] = _raw(t, d.get("raw_config"), f"{path}.raw_config")
    out["gt"], label_ids = _gt(t, d.get("gt_config"), f"{path}.gt_config", task)
    if d.get("mask_config") is not None:
        out["mask"] = _zarr(t, d["mask_config"], f"{path}.mask_config")
    if d.get("sample_points") is not None:
        t.skip(f"{path}.sample_points", d["sample_points"], "dacapo-flow samples uniformly")
    return out, label_ids


def _datasplit(t: _Translation, d: dict, task: dict | None) -> dict | None:
    if t.wrong_type(d, "datasplit_config", "TrainValidateDataSplitConfig"):
        return None
    out = {"type": "train_validate", "label_ids": {}, "train_configs": [], "validate_configs": []}
    for group in ("train_configs", "validate_configs"):
        for i, dataset in enumerate(d.get(group) or []):
            path = f"datasplit_config.{group}[{i}]"
            translated, label_ids = _dataset(t, dataset, path, task)
            for label, ids in label_ids.items():
                known = out["label_ids"].setdefault(label, ids)
                if known != ids:
                    t.skip(f"{path}.gt_config", ids, f"label {label!r} has ids {known} elsewhere")
            out[group].append(translated)
    return out


# --- run ------------------------------------------------------------------------------------
def _start(t: _Translation, d: dict | None, store: str | None) -> dict | None:
    if d is None:
        return None
    if d.get("__type__", "StartConfig") != "StartConfig" or store is None:
        t.skip("start_config", d.get("__type__"), "only a StartConfig of a known store")
        return None
    criterion = str(d.get("criterion"))
    key = "iteration" if criterion.isdigit() else "criterion"
    return {"runs_base_dir": str(store), "run": d.get("run"), key: criterion}


def translate_run(dacapo: dict, store: str | os.PathLike | None = None) -> tuple[dict, list[str]]:
    """(dacapo-flow run config dict, untranslated key paths with reasons).

    `store` (DaCapo's runs_base_dir) is needed only to translate a `start_config`."""
    t = _Translation()
    task = _task(t, dacapo.get("task_config"))
    config = {
        "name": dacapo.get("name"),
        "repetition": dacapo.get("repetition", 0),
        "num_iterations": dacapo.get("num_iterations"),
        "validation_interval": dacapo.get("validation_interval", 1000),
        "task_config": task,
        "architecture_config": _architecture(t, dacapo.get("architecture_config")),
        "trainer_config": _trainer(t, dacapo.get("trainer_config"), dacapo),
        "datasplit_config": _datasplit(t, dacapo.get("datasplit_config"), task),
    }
    start = _start(t, dacapo.get("start_config"), None if store is None else str(store))
    if start is not None:
        config["start_config"] = start
    handled = set(config) | {"start_config", "batch_size", "learning_rate"} | _DROPPED
    for key, value in dacapo.items():
        if key not in handled and value is not None:
            t.skip(key, value, "no dacapo-flow equivalent")
    return config, t.untranslated


def import_dacapo_run(store: str | os.PathLike, run: str) -> tuple[dict, list[str]]:
    """Read and translate run `run` of the DaCapo files store `store`."""
    return translate_run(load_dacapo_yaml(dacapo_run_yaml(store, run)), store)
