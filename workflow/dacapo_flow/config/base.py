"""Common base of every config: strict parsing, `verify()`, and per-stage hashing.

A field's *stage* says which cached stage of the workflow its value affects (DESIGN §5):
"train" (the default), "validate", "select" or "none". Stage hashes cover only the fields of
that stage, so editing a threshold grid reruns validation but not training.
"""

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STAGES = ("train", "validate", "select", "none")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key path."""


def staged(stage: str, default: Any = ..., **kwargs) -> Any:
    """A pydantic Field tagged with the workflow stage its value affects."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["stage"] = stage
    return Field(default, json_schema_extra=extra, **kwargs)


def field_stage(model: type[BaseModel], name: str) -> str | None:
    """The stage a field is tagged with, or None when it inherits its parent's."""
    extra = model.model_fields[name].json_schema_extra
    return extra.get("stage") if isinstance(extra, dict) else None


class Config(BaseModel):
    """Strict, immutable config: unknown keys and wrong types are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def problems(self) -> list[str]:
        """What is wrong beyond types: `key.path: message` strings. Subclasses extend."""
        found = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            children = value if isinstance(value, (list, tuple)) else [value]
            for index, child in enumerate(children):
                if isinstance(child, Config):
                    prefix = f"{name}[{index}]" if isinstance(value, (list, tuple)) else name
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
            elif own == stage:
                payload[name] = json.loads(json.dumps(value, default=str))
        return payload

    def stage_hash(self, stage: str) -> str:
        """A short stable hash of `stage_payload(stage)`."""
        text = json.dumps(self.stage_payload(stage), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
