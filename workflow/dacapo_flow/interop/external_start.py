"""Initialising a model from a checkpoint outside this workflow (a DaCapo run or a file),
resolved by `dacapo_store.resolve_external_start`; heads matched by label as for our runs."""

from __future__ import annotations

import logging

import torch

from dacapo_flow.interop.dacapo_checkpoint import read_model_weights
from dacapo_flow.interop.dacapo_store import ResolvedStart
from dacapo_flow.start import initialize_from_weights

logger = logging.getLogger(__name__)


def initialize_from_checkpoint(
    model: torch.nn.Module, resolved: ResolvedStart, new_head: list[str] | None = None
) -> torch.nn.Module:
    """Load `resolved.checkpoint` into `model` (model weights only, as DaCapo's Start)."""
    weights = read_model_weights(resolved.checkpoint)
    initialize_from_weights(model, weights, resolved.description, resolved.head_labels, new_head)
    logger.info("initialised model from %s", resolved.description)
    return model
