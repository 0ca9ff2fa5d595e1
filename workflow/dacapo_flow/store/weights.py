"""What a checkpoint holds, and reading/writing it as plain containers and tensors.

The RNG states it keeps are `store.rng_state`'s; the model-only file written beside it (and
the winning weights copied from it) are `store.model_file`'s.

On disk a checkpoint is `torch.save` of a dict of plain Python containers, scalars, strings and
tensors, so `torch.load(path, weights_only=True)` reads it and no code runs while loading:

    {"format": "dacapo-flow-checkpoint", "version": 1, "iteration": int,
     "model": state_dict, "optimizer": state_dict, "scheduler": state_dict | None,
     "rng": {"python", "numpy", "torch", "cuda"} | None, "sampler": dict | None,
     "config_hash": str | None, "head_labels": list[str] | None}

DaCapo's plain `{"model", "optimizer"}` dicts and DaCapo's pickled `Weights` objects are still
read (the latter through an allow-listed stand-in class, not by unpickling arbitrary code).
"""

from __future__ import annotations

import os
import pickle
import re
import shlex
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dacapo_flow.store.atomic import atomic_torch_save

CHECKPOINT_FORMAT = "dacapo-flow-checkpoint"
CHECKPOINT_VERSION = 1

_PLAIN_LEAVES = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size)
_PLAIN_LEAVES += (torch.dtype, torch.device)


class CheckpointError(Exception):
    """A checkpoint file cannot be read or does not hold what it must."""


class _DaCapoWeights:
    """Stand-in for `dacapo.store.weights_store.Weights` (DaCapo <= 0.3.5 pickled it).

    Allow-listed for `torch.load(weights_only=True)` under DaCapo's class path: it only stores
    the pickled attribute dict, so reading an old DaCapo checkpoint runs no foreign code.
    """

    def __setstate__(self, state: dict) -> None:
        self.state = dict(state)


_DACAPO_WEIGHTS_PATH = "dacapo.store.weights_store.Weights"


def _to_plain(obj: Any, where: str) -> Any:
    """Check that `obj` is made of containers weights_only accepts; numpy scalars become
    Python scalars. Anything else is an error naming the offending key path."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, _PLAIN_LEAVES):
        return obj
    if isinstance(obj, (dict, OrderedDict)):
        plain = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            plain[_to_plain(key, f"{where} key")] = _to_plain(value, f"{where}[{key!r}]")
        if hasattr(obj, "_metadata"):  # state dicts carry per-module versions for loading
            plain._metadata = _to_plain(obj._metadata, f"{where}._metadata")
        return plain
    if isinstance(obj, (list, tuple, set)):
        items = [_to_plain(value, f"{where}[{i}]") for i, value in enumerate(obj)]
        return items if isinstance(obj, list) else type(obj)(items)
    raise CheckpointError(
        f"cannot store {where}: {type(obj).__module__}.{type(obj).__qualname__} is not a plain "
        "container, scalar, string or tensor (checkpoints must load with weights_only=True)"
    )


# --- Weights ------------------------------------------------------------------------------


class Weights:
    """Everything needed to continue a run bit-for-bit (DaCapo's `Weights`, extended).

    `.model` and `.optimizer` are the state dicts, as in DaCapo; the other fields are None
    for checkpoints that did not record them (DaCapo's legacy files)."""

    def __init__(
        self,
        model_state_dict: dict,
        optimizer_state_dict: dict | None,
        scheduler: dict | None = None,
        rng: dict | None = None,
        sampler: dict | None = None,
        iteration: int | None = None,
        config_hash: str | None = None,
        head_labels: list[str] | None = None,
    ):
        self.model = model_state_dict
        self.optimizer = optimizer_state_dict
        self.scheduler = scheduler
        self.rng = rng
        self.sampler = sampler
        self.iteration = iteration
        self.config_hash = config_hash
        self.head_labels = list(head_labels) if head_labels is not None else None

    def __repr__(self) -> str:
        return (
            f"Weights(iteration={self.iteration}, {len(self.model)} model tensors, "
            f"head_labels={self.head_labels}, config_hash={self.config_hash})"
        )

    def to_dict(self) -> dict:
        """The on-disk dict; raises CheckpointError if any part is not weights_only-loadable."""
        return _to_plain(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "iteration": self.iteration,
                "model": self.model,
                "optimizer": self.optimizer,
                "scheduler": self.scheduler,
                "rng": self.rng,
                "sampler": self.sampler,
                "config_hash": self.config_hash,
                "head_labels": self.head_labels,
            },
            "checkpoint",
        )

    @classmethod
    def from_dict(cls, d: Any, path: str | os.PathLike | None = None) -> Weights:
        """Build from a loaded checkpoint dict (ours, or DaCapo's legacy {"model", "optimizer"})."""
        source = f"checkpoint {os.fspath(path)}" if path is not None else "checkpoint"
        if isinstance(d, _DaCapoWeights):
            d = d.state
        if not isinstance(d, dict):
            raise CheckpointError(f"{source} holds a {type(d).__name__}, not a checkpoint dict")
        if "format" in d and d["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source} has unknown format {d['format']!r}")
        version = d.get("version", CHECKPOINT_VERSION)
        if not isinstance(version, int) or version > CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{source} has format version {version!r}; this dacapo-flow reads versions "
                f"up to {CHECKPOINT_VERSION} (a newer dacapo-flow wrote it?)"
            )
        if not isinstance(d.get("model"), dict):
            raise CheckpointError(f"{source} has no model state dict (keys: {sorted(map(str, d))})")
        return cls(
            d["model"],
            d.get("optimizer"),
            scheduler=d.get("scheduler"),
            rng=d.get("rng"),
            sampler=d.get("sampler"),
            iteration=d.get("iteration"),
            config_hash=d.get("config_hash"),
            head_labels=d.get("head_labels"),
        )


def save_checkpoint(weights: Weights, path: str | os.PathLike) -> Path:
    """Write `weights` to `path` atomically in the plain-container format."""
    return atomic_torch_save(weights.to_dict(), path)


def recovery_hint(path: str | os.PathLike) -> str:
    """The command that makes `path` again: Snakemake reruns the job that writes it (a
    checkpoint's chunk, a best file's selection), and whatever depends on it."""
    return f"To make it again, run: snakemake --cores all --force {shlex.quote(os.fspath(path))}"


def load_checkpoint(path: str | os.PathLike) -> Weights:
    """Read a checkpoint with `weights_only=True` onto the CPU.

    Missing file -> FileNotFoundError; a truncated, non-torch or pickled-object file, or a dict
    without "model" -> CheckpointError naming the file."""
    return Weights.from_dict(load_plain(path), Path(path))


def load_plain(path: str | os.PathLike) -> Any:
    """`torch.load(path, weights_only=True)` onto the CPU with DaCapo's `Weights` class as the
    only allow-listed global (read as `_DaCapoWeights`). The one place checkpoints are
    unpickled: any other global is refused with a CheckpointError naming the file and it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    allowed = [(_DaCapoWeights, _DACAPO_WEIGHTS_PATH)]
    try:
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message is a page of advice to use weights_only=False; keep the cause only.
        culprit = re.search(r"GLOBAL (\S+)", str(error))
        if culprit is None:  # no pickled global: bytes that are no pickle at all (a text file)
            cause = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
            raise CheckpointError(
                f"checkpoint {path} is not a readable torch checkpoint (not written by "
                f"torch.save?): {cause.group(1) if cause else type(error).__name__}"
            ) from error
        what = f"the global {culprit.group(1)}"
        raise CheckpointError(
            f"checkpoint {path} holds {what}, which is not allow-listed; dacapo-flow reads only "
            "plain containers, tensors and DaCapo's Weights (torch.load weights_only=True) and "
            "never unpickles other classes or functions"
        ) from error
    except Exception as error:  # truncated zip, not a torch file, corrupt pickle stream, ...
        raise CheckpointError(
            f"checkpoint {path} is not a readable torch checkpoint (truncated or corrupt?): "
            f"{type(error).__name__}: {str(error)[:200]}. {recovery_hint(path)}"
        ) from error
    return loaded


# --- state dict comparison (used by resume and by starters) -------------------------------


def state_dict_mismatch(
    expected: dict, found: dict, ignore: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Human-readable differences between a model's state dict (`expected`) and a checkpoint's
    (`found`): missing keys, unexpected keys, shape mismatches. Keys in `ignore` are skipped."""
    problems = []
    missing = [key for key in expected if key not in found and key not in ignore]
    unexpected = [key for key in found if key not in expected and key not in ignore]
    if missing:
        problems.append(f"missing in checkpoint: {missing}")
    if unexpected:
        problems.append(f"not in model: {unexpected}")
    for key, tensor in expected.items():
        if key in ignore or key not in found:
            continue
        theirs = found[key]
        if hasattr(tensor, "shape") and hasattr(theirs, "shape") and tensor.shape != theirs.shape:
            problems.append(
                f"shape of {key}: model {tuple(tensor.shape)}, checkpoint {tuple(theirs.shape)}"
            )
    return problems
