"""Model weights from checkpoints written elsewhere: DaCapo, or plain PyTorch.

Every file goes through `store.weights.load_plain` (torch.load weights_only=True with DaCapo's
`Weights` class as the one allow-listed global), so no code in the file runs. Accepted forms:

- a dacapo-flow checkpoint (`{"format": "dacapo-flow-checkpoint", ...}`);
- DaCapo <= 0.3.5: a pickled `dacapo.store.weights_store.Weights` (`.model`, `.optimizer`);
- DaCapo's dict checkpoints `{"model": state_dict, "optimizer": ...}`;
- a plain state dict (`model.state_dict()` saved directly).

State-dict keys are completed to dacapo-flow's `Model` names: DaCapo's `Model` registers its
body and head twice (`architecture.*` = `chain.0.*`, `prediction_head.*` = `chain.1.*`), and
checkpoints of `model.chain` (DaCapo's PretrainedTask) hold only `0.*` / `1.*`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch

from dacapo_flow.store.weights import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    Weights,
    _DaCapoWeights,
    load_plain,
)

# Each prefix of a dacapo-flow Model state dict, with the other name of the same module.
_ALIASES = {
    "architecture.": "chain.0.",
    "chain.0.": "architecture.",
    "prediction_head.": "chain.1.",
    "chain.1.": "prediction_head.",
}
_CHAIN_RELATIVE = {"0.": "chain.0.", "1.": "chain.1."}


def _is_state_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def complete_model_keys(state: dict) -> OrderedDict:
    """`state` with every tensor under both of its dacapo-flow `Model` names.

    Chain-relative keys (`0.*`, `1.*`) become `chain.0.*` / `chain.1.*` first; keys that name
    no part of a Model (no known prefix) are kept as they are, so a mismatch reports them."""
    full = OrderedDict()
    for key, value in state.items():
        for short, long in _CHAIN_RELATIVE.items():
            if key.startswith(short):
                key = long + key[len(short) :]
                break
        full[key] = value
    for key, value in list(full.items()):
        for prefix, other in _ALIASES.items():
            if key.startswith(prefix):
                full.setdefault(other + key[len(prefix) :], value)
                break
    return full


def read_model_weights(path: str | os.PathLike) -> Weights:
    """The weights in a dacapo-flow, DaCapo or plain PyTorch checkpoint file, model keys
    completed (see module docstring). Refuses any pickled global but DaCapo's `Weights`,
    naming the file and the global, without running it."""
    path = Path(path)
    loaded = load_plain(path)
    if isinstance(loaded, _DaCapoWeights):
        loaded = loaded.state
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        weights = Weights.from_dict(loaded, path)
    elif isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        weights = Weights(loaded["model"], loaded.get("optimizer"))
    elif _is_state_dict(loaded):
        weights = Weights(loaded, None)
    else:
        what = sorted(map(str, loaded)) if isinstance(loaded, dict) else type(loaded).__name__
        raise CheckpointError(
            f"checkpoint {path} holds neither a state dict, nor a dict with 'model', nor "
            f"DaCapo's Weights: {what}"
        )
    if not _is_state_dict(weights.model):
        raise CheckpointError(f"checkpoint {path}: its model state dict holds non-tensors")
    weights.model = complete_model_keys(weights.model)
    return weights
