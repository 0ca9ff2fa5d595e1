"""Starting a run from another run's weights (DaCapo's `Start` and `match_heads`).

The starter checkpoint is named by a run and a criterion: an iteration number ("2000") or a
criterion whose best record `<store>/<run>/<dataset>/<criterion>.json` gives the iteration.
Only model weights are taken. When the starter's head labels differ from the new task's, the
body is loaded strictly and the head's rows are copied label by label. Unlike DaCapo, any
mismatch is an error: a run never silently starts from random weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from dacapo_flow.store.weights import load_checkpoint, state_dict_mismatch
from dacapo_flow.store.weights_store import LocalWeightsStore, dataset_name, run_name

logger = logging.getLogger(__name__)

# DaCapo's Model registers its head twice (as `prediction_head` and as `chain[1]`), so a
# checkpoint can hold either or both names for the same tensor.
HEAD_KEYS = ["prediction_head.weight", "prediction_head.bias", "chain.1.weight", "chain.1.bias"]
_HEAD_ALIAS = {
    "prediction_head.weight": "chain.1.weight",
    "prediction_head.bias": "chain.1.bias",
    "chain.1.weight": "prediction_head.weight",
    "chain.1.bias": "prediction_head.bias",
}


class StartError(ValueError):
    """The starter weights cannot be found or do not fit the model."""


def default_weights_store() -> LocalWeightsStore:
    return LocalWeightsStore(os.environ.get("DACAPO_FLOW_STORE", "results/store"))


def _check_unique(labels: Sequence[str], which: str) -> list[str]:
    labels = [str(label) for label in labels]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise StartError(f"{which} head has duplicate labels {duplicates}: {labels}")
    return labels


def match_heads(
    model: torch.nn.Module,
    head_weights: dict,
    old_head: Sequence[str],
    new_head: Sequence[str],
) -> torch.nn.Module:
    """Copy, for every label in both heads, its output rows of `prediction_head.*` /
    `chain.1.*` (whichever the model has) from `head_weights` (row order = `old_head`) to
    the label's position in `new_head`. Labels only in the new head keep their fresh
    initialisation and are logged. No shared label at all is an error. Returns the model."""
    old_head = _check_unique(old_head, "starter")
    new_head = _check_unique(new_head, "new")
    targets = model.state_dict(keep_vars=True)
    pairs, shared = _head_pairs(targets, head_weights, old_head, new_head)
    with torch.no_grad():
        for source, target in pairs:
            for label in shared:
                target[new_head.index(label)].copy_(source[old_head.index(label)])
    for label in shared:
        logger.info("head: label %s taken from the starter", label)
    fresh = [label for label in new_head if label not in old_head]
    if fresh:
        logger.warning("head: labels %s are not in the starter and keep their fresh init", fresh)
    dropped = [label for label in old_head if label not in new_head]
    if dropped:
        logger.info("head: starter labels %s are not in the new head and are dropped", dropped)
    return model


def _head_pairs(targets: dict, head_weights: dict, old_head: list[str], new_head: list[str]):
    """([(starter tensor, model tensor)] of every head key, shared labels); StartError when
    the heads share no label or their tensors do not fit. Reads shapes only."""
    shared = [label for label in new_head if label in old_head]
    if not shared:
        raise StartError(f"starter head {old_head} and new head {new_head} share no label")
    keys = [key for key in HEAD_KEYS if key in targets]
    if not keys:
        raise StartError(f"model has no prediction head: none of {HEAD_KEYS} in its state dict")
    pairs = []
    for key in keys:
        source = head_weights.get(key, head_weights.get(_HEAD_ALIAS[key]))
        if source is None:
            raise StartError(
                f"starter head weights lack {key} (and {_HEAD_ALIAS[key]}); "
                f"have {sorted(head_weights)}"
            )
        target = targets[key]
        if source.shape[0] != len(old_head) or target.shape[0] != len(new_head):
            raise StartError(
                f"{key}: starter has {source.shape[0]} output channels for labels "
                f"{old_head}, model has {target.shape[0]} for labels {new_head}"
            )
        if source.shape[1:] != target.shape[1:]:
            raise StartError(
                f"{key}: starter shape {tuple(source.shape)} and model shape "
                f"{tuple(target.shape)} differ beyond the label axis"
            )
        pairs.append((source, target))
    return pairs, shared


class Start:
    """Initialises a model from the checkpoint named by `start_config` (.run, .criterion and
    optionally .dataset; a legacy dict with those keys works too)."""

    def __init__(self, start_config: Any, weights_store: Any = None):
        def field(name: str) -> Any:
            if isinstance(start_config, dict):
                return start_config.get(name)
            return getattr(start_config, name, None)

        if field("run") is None or field("criterion") is None:
            raise StartError(f"start config needs a run and a criterion, got {start_config!r}")
        self.run = run_name(field("run"))
        self.criterion = str(field("criterion"))
        self.dataset = None if field("dataset") is None else dataset_name(field("dataset"))
        self.weights_store = weights_store if weights_store is not None else default_weights_store()

    def __repr__(self) -> str:
        return f"Start(run={self.run!r}, criterion={self.criterion!r}, dataset={self.dataset!r})"

    def starter_path(self) -> Path:
        """The file the start config names: the best weights of (run, dataset, criterion),
        or checkpoint `criterion` when it is an iteration number."""
        if self.criterion.isdigit() and self.criterion.isascii():
            return Path(self.weights_store.checkpoint_path(self.run, self.criterion))
        dataset = self.dataset or self._only_dataset()
        return Path(self.weights_store.best_weights_path(self.run, dataset, self.criterion))

    def _only_dataset(self) -> str:
        paths = self.weights_store.best_paths(self.run, self.criterion)
        if len(paths) != 1:
            raise StartError(
                f"{self}: found {len(paths)} best records of {self.criterion} for run "
                f"{self.run} ({[str(p) for p in paths]}); set the start dataset"
            )
        return paths[0].parent.name

    def initialize_weights(
        self, model: torch.nn.Module, new_head: Sequence[str] | None = None
    ) -> torch.nn.Module:
        """Load the starter's model weights into `model` (optimizer state is not used)."""
        return load_start_weights(model, self.starter_path(), new_head)


def load_start_weights(
    model: torch.nn.Module, path: str | os.PathLike, new_head: Sequence[str] | None = None
) -> torch.nn.Module:
    """Initialise `model` from the weights file `path` (a best-weights file or a checkpoint
    of this workflow)."""
    weights = load_checkpoint(path)
    source = f"starter weights {path} (iteration {weights.iteration})"
    initialize_from_weights(model, weights, source, new_head=new_head)
    logger.info("initialised model from %s", source)
    return model


def initialize_from_weights(
    model: torch.nn.Module,
    weights,
    source: str,
    old_head: Sequence[str] | None = None,
    new_head: Sequence[str] | None = None,
) -> torch.nn.Module:
    """Load `weights.model` into `model`. With both heads' labels known (`old_head`, default
    the labels the weights record) and different, the body is loaded strictly and the head
    matched by label; otherwise everything is loaded strictly. Any mismatch is an error."""
    old_head, new_head = _heads(weights, old_head, new_head)
    check_start_fits(model.state_dict(), weights, source, old_head, new_head)
    if old_head and new_head and old_head != new_head:
        ignore = set(HEAD_KEYS)
        body = {k: v for k, v in weights.model.items() if k not in ignore}
        model.load_state_dict(body, strict=False)  # strictness checked above
        head_weights = {k: v for k, v in weights.model.items() if k in ignore}
        try:
            match_heads(model, head_weights, old_head, new_head)
        except StartError as error:
            raise StartError(f"{source}: {error}") from error
        logger.info("head matched %s -> %s", old_head, new_head)
        return model
    model.load_state_dict(weights.model, strict=True)
    return model


def _heads(weights, old_head, new_head) -> tuple[list[str] | None, list[str] | None]:
    old_head = list(old_head or weights.head_labels or []) or None
    new_head = [str(label) for label in new_head] if new_head else None
    return old_head, new_head


def check_start_fits(model_state: dict, weights, source: str, old_head=None, new_head=None):
    """StartError for whatever keeps `weights` from initialising a model with `model_state`
    (as `initialize_from_weights` would load them): a body that does not fit, heads that
    share no label or whose tensors differ. Compares shapes only, so `model_state` may live
    on the meta device."""
    old_head, new_head = _heads(weights, old_head, new_head)
    if old_head and new_head and old_head != new_head:
        ignore = set(HEAD_KEYS)
        problems = state_dict_mismatch(model_state, weights.model, ignore=ignore)
        if problems:
            raise StartError(f"{source} does not fit the model body: " + "; ".join(problems))
        head_weights = {k: v for k, v in weights.model.items() if k in ignore}
        try:
            _head_pairs(
                model_state,
                head_weights,
                _check_unique(old_head, "starter"),
                _check_unique(new_head, "new"),
            )
        except StartError as error:
            raise StartError(f"{source}: {error}") from error
        return
    problems = state_dict_mismatch(model_state, weights.model)
    if problems:
        hint = ""
        if new_head and not old_head:
            hint = " (the starter records no head labels, so heads cannot be matched)"
        raise StartError(f"{source} does not fit the model{hint}: " + "; ".join(problems))


def external_start_problems(run_config, resolved) -> list[str]:
    """What keeps `run_config` from starting from the external checkpoint `resolved` (a file,
    or a DaCapo run's checkpoint): a file torch cannot read with weights_only=True, weights
    that do not fit the run's network, or a head sharing no label with the run's. Cheap
    enough for `dacapo-flow check`: one file is read, the model is built on the meta device
    (no memory, no initialisation)."""
    from .factory import create_architecture, create_task
    from .interop.dacapo_checkpoint import read_model_weights
    from .store.weights import CheckpointError

    try:
        weights = read_model_weights(resolved.checkpoint)
    except (CheckpointError, OSError) as error:
        return [str(error)]
    task = create_task(run_config.task_config, run_config.datasplit_config.label_ids)
    with torch.device("meta"):
        model = task.create_model(create_architecture(run_config.architecture_config))
    try:
        check_start_fits(
            model.state_dict(),
            weights,
            resolved.description,
            resolved.head_labels,
            task.head_labels,
        )
    except StartError as error:
        return [str(error)]
    return []
