"""The best record: which checkpoint and which post-processing won one (validation dataset,
criterion) of a run. `select-best` writes it; prediction, the report, exports and the DaCapo
facade read it through this one model.

Post-processing parameters are a dict of plain values ({"bias": 0.5, "min_size": 100}). Best
records written before this model held a label string ("threshold=0.25") where the scores file
lacked the grid; the validator converts such a string once, on reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .atomic import atomic_write_json

ParameterValue = bool | int | float | str


class BestRecordError(ValueError):
    """A best record that cannot be read or does not fit what the reader asked for."""


def _legacy_parameters(label: str) -> dict:
    """An old record's label "bias=0.5,threshold=0" as a dict; "argmax" / "" is {}."""
    if label in ("argmax", "default", ""):
        return {}
    parsed: dict = {}
    for item in label.split(","):
        key, _, value = item.partition("=")
        try:
            parsed[key] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            parsed[key] = value
    return parsed


class BestRecord(BaseModel):
    """`iteration` None: no checkpoint had a valid score (readers that apply a model refuse it).
    `grid_edges` names the parameters whose selected value is the lowest or highest of its
    grid ({"threshold": "highest"}): the grid may be too narrow."""

    # Extra keys are kept: the DaCapo facade's `store_best(..., **extra)` records its own.
    model_config = ConfigDict(extra="allow", frozen=True)

    iteration: int | None
    parameters: dict[str, ParameterValue] | None = None
    score: float | None = None
    higher_is_better: bool | None = None
    dataset: str
    criterion: str
    config_hash: str | None = None
    head_labels: list[str] | None = None
    checkpoint: str | None = None
    weights: str | None = None
    grid_edges: dict[str, str] = {}

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_as_dict(cls, value):
        return _legacy_parameters(value) if isinstance(value, str) else value

    def model_post_init(self, context) -> None:
        # Written by older versions beside the dict; the label is derived now.
        if self.__pydantic_extra__:
            self.__pydantic_extra__.pop("parameter_label", None)

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    @property
    def label(self) -> str:
        """The parameters as one short string, for logs and tables only (never parsed)."""
        from ..stats.validation_scores import parameter_label

        return "none" if self.parameters is None else parameter_label(self.parameters)

    def edge_warning(self) -> str | None:
        """ "threshold=0.9 is the highest of its grid: extend the grid", or None."""
        if not self.grid_edges or self.parameters is None:
            return None
        parts = [
            f"{key}={self.parameters[key]} is the {edge} of its grid"
            for key, edge in sorted(self.grid_edges.items())
        ]
        return "; ".join(parts) + ": extend the grid"

    @classmethod
    def read(
        cls, path: str | os.PathLike, dataset: str | None = None, criterion: str | None = None
    ) -> BestRecord:
        """The record at `path`, checked against the dataset and criterion expected (None:
        any). Errors name the file."""
        try:
            data = json.loads(Path(path).read_text())
        except OSError as error:
            raise BestRecordError(f"best record {path}: cannot read: {error.strerror}") from None
        except ValueError as error:
            raise BestRecordError(f"best record {path}: not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise BestRecordError(f"best record {path}: not a JSON object")
        try:
            record = cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
                for e in error.errors()
            )
            raise BestRecordError(f"best record {path}: {problems}") from None
        for key, wanted in (("dataset", dataset), ("criterion", criterion)):
            if wanted is not None and getattr(record, key) != wanted:
                raise BestRecordError(
                    f"best record {path}: {key} is {getattr(record, key)!r}, expected {wanted!r}"
                )
        return record

    def write(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.model_dump(mode="json"))
