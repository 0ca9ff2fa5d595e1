"""Common base of every config: strict parsing, `verify()`, and per-stage hashing.

A field's *stage* says which cached stage of the workflow its value affects (DESIGN §5):
"train" (the default), "validate", "select" or "none". Stage hashes cover only the fields of
that stage, so editing a threshold grid reruns validation but not training.

`problems()` and `verify()` look at the values only (no I/O, run whenever the workflow is
parsed). The checks that open the arrays a config names are not here (config/ imports no
stage): `dacapo_flow.data.array_checks` (metadata) and `dacapo_flow.plan.data_checks` (voxels).
"""

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STAGES = ("train", "validate", "select", "none")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key path."""


def staged(stage: str, default: Any = ..., reruns: str | None = None, **kwargs) -> Any:
    """A pydantic Field tagged with the workflow stage its value affects. `reruns` says what
    a change reruns where that is not the stage's hash (config/README.md shows it): a field
    outside every hash can still change the store's paths (a run's name, its checkpoints'
    iterations), and so what Snakemake plans."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["stage"] = stage
    if reruns is not None:
        extra["reruns"] = reruns
    return Field(default, json_schema_extra=extra, **kwargs)


def field_reruns(model: type[BaseModel], name: str) -> str | None:
    """What changing a field reruns, where it is not its stage (see `staged`)."""
    extra = model.model_fields[name].json_schema_extra
    return extra.get("reruns") if isinstance(extra, dict) else None


def added(default: Any, **kwargs) -> Any:
    """A Field added after stores existed: it enters the stage hashes only when set to a
    value other than its default, so existing configs keep their hashes (and caches)."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["hash_if_set"] = True
    return Field(default, json_schema_extra=extra, **kwargs)


def beyond(key: str, value: float, limit: float, why: str) -> list[str]:
    """`["key: at most limit (why), got value"]` when |value| exceeds `limit`, else []. Finite
    numbers far beyond any sane value (a learning rate of 1e30) are refused like NaN is."""
    if abs(value) <= limit:
        return []
    return [f"{key}: {'|value| ' if value < 0 else ''}at most {limit:g} ({why}), got {value!r}"]


def field_stage(model: type[BaseModel], name: str) -> str | None:
    """The stage a field is tagged with, or None when it inherits its parent's."""
    extra = model.model_fields[name].json_schema_extra
    return extra.get("stage") if isinstance(extra, dict) else None


def _hashed_only_if_set(model: type[BaseModel], name: str, value: Any) -> bool:
    field = model.model_fields[name]
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("hash_if_set") and value == field.default


def _children(config: "Config"):
    """(key prefix, child config) for every config directly inside `config`."""
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, Config):
            yield name, value
        elif isinstance(value, (list, tuple)):
            for index, child in enumerate(value):
                if isinstance(child, Config):
                    yield f"{name}[{index}]", child


class Config(BaseModel):
    """Strict, immutable config: unknown keys and wrong types are rejected."""

    # NaN and infinities are refused by every float field when parsing (`weight_decay: .nan`).
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )

    def problems(self) -> list[str]:
        """What is wrong beyond types: `key.path: message` strings, from the values alone
        (no I/O). Subclasses extend."""
        found = []
        for prefix, child in _children(self):
            found += [f"{prefix}.{p}" for p in child.problems()]
        return found

    def verify(self) -> tuple[bool, str]:
        """(True, summary) when usable, else (False, every problem on its own line)."""
        found = self.problems()
        if found:
            return False, "\n".join(found)
        return True, f"{type(self).__name__} is valid"

    def stage_payload(self, stage: str, inherited: str = "train") -> dict:
        """The JSON-able values of the fields that affect `stage`.

        A field without its own stage tag inherits its parent's, so tagging
        `validate_configs` "validate" puts that whole subtree in the validation hash.
        """
        payload = {}
        for name in type(self).model_fields:
            own = field_stage(type(self), name) or inherited
            value = getattr(self, name)
            if isinstance(value, Config):
                nested = value.stage_payload(stage, own)
                if nested:
                    payload[name] = nested
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Config):
                nested = [v.stage_payload(stage, own) for v in value]
                if any(nested):
                    payload[name] = nested
            elif own == stage and not _hashed_only_if_set(type(self), name, value):
                payload[name] = json.loads(json.dumps(value, default=str))
        return payload

    def stage_hash(self, stage: str) -> str:
        """A short stable hash of `stage_payload(stage)`."""
        text = json.dumps(self.stage_payload(stage), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
