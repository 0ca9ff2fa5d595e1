"""Validation scores of a run: iterations x datasets x post-processing parameters x criteria.

Follows DaCapo's ValidationIterationScores / ValidationScores, without its defects: a
re-validated iteration replaces its old entry (no duplicate coordinates), and `get_best` uses
each criterion's own direction, never picks NaN, and works on a single selected criterion.
DaCapo's bookkeeping methods the workflow does not use (`delete_after`, `compare`, ...) are
`interop.dacapo_scores.DaCapoValidationScores`'.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from dacapo_flow.store.atomic import atomic_write_netcdf

logger = logging.getLogger(__name__)

DIMS = ("iterations", "datasets", "parameters", "criteria")


def argbest(values: Any, higher: bool) -> int | None:
    """The selection rule: flat index of the best value of `values` in the criterion's
    direction; NaN is never best; ties go to the first in row-major order (for
    iterations x parameters: the earliest iteration, then the first parameter set).
    None when every value is NaN (or there are none)."""
    flat = np.asarray(values, dtype=float).ravel()
    if not flat.size or np.all(np.isnan(flat)):
        return None
    return int(np.nanargmax(flat) if higher else np.nanargmin(flat))


@dataclass
class ValidationIterationScores:
    """Scores of checkpoint `iteration` (steps trained), indexed [dataset][parameter][criterion]."""

    iteration: int
    scores: Any


class RecordedCriteria:
    """Criteria and their directions as recorded in a scores file: stands in for the task's
    evaluation scores (`.criteria`, `.higher_is_better(criterion)`) when reading one back."""

    def __init__(self, criteria: Sequence[str], higher_is_better: Sequence[bool]):
        self.criteria = [str(c) for c in criteria]
        self._directions = dict(zip(self.criteria, (bool(h) for h in higher_is_better)))

    def higher_is_better(self, criterion: str) -> bool:
        return self._directions[str(criterion)]

    def __repr__(self) -> str:
        return f"RecordedCriteria({self._directions})"


def _format_value(value: Any) -> str:
    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    return repr(value) if isinstance(value, float) else str(value)


def parameter_label(parameters: Any) -> str:
    """A stable string naming one point of the post-processing grid: "threshold=0.25",
    "bias=0.5,threshold=0" (keys sorted), "argmax" for the parameterless {}."""
    if isinstance(parameters, str):
        return parameters
    if isinstance(parameters, dict):
        if not parameters:
            return "argmax"
        return ",".join(f"{key}={_format_value(parameters[key])}" for key in sorted(parameters))
    return str(parameters)


def _name(item: Any) -> str:
    return item if isinstance(item, str) else str(getattr(item, "name", item))


class ValidationScores:
    """All validation scores of one run, in iteration order."""

    def __init__(
        self,
        parameters: Sequence[Any],
        datasets: Sequence[Any],
        evaluation_scores: Any,
        scores: Iterable[ValidationIterationScores] | None = None,
    ):
        self.parameters = list(parameters)
        self.datasets = list(datasets)
        self.evaluation_scores = evaluation_scores
        self.parameter_labels = [parameter_label(p) for p in self.parameters]
        self.dataset_names = [_name(d) for d in self.datasets]
        for what, names in (("parameter", self.parameter_labels), ("dataset", self.dataset_names)):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {what} names in validation scores: {duplicates}")
        if not self.parameters or not self.datasets or not self.criteria:
            raise ValueError(
                "validation scores need at least one parameter, dataset and criterion; got "
                f"{len(self.parameters)}, {len(self.datasets)}, {len(self.criteria)}"
            )
        self.scores: list[ValidationIterationScores] = []
        for iteration_scores in scores or ():
            self.add_iteration_scores(iteration_scores)

    def __repr__(self) -> str:
        return (
            f"ValidationScores(iterations={[s.iteration for s in self.scores]}, "
            f"datasets={self.dataset_names}, parameters={self.parameter_labels}, "
            f"criteria={self.criteria})"
        )

    @property
    def criteria(self) -> list[str]:
        return [str(c) for c in self.evaluation_scores.criteria]

    def higher_is_better(self, criterion: str) -> bool:
        return bool(self.evaluation_scores.higher_is_better(str(criterion)))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Expected shape of one iteration's scores: (datasets, parameters, criteria)."""
        return (len(self.datasets), len(self.parameters), len(self.criteria))

    # --- iteration bookkeeping ------------------------------------------------------------

    def add_iteration_scores(self, iteration_scores: ValidationIterationScores) -> None:
        """Insert in iteration order; a re-validated iteration replaces its old entry."""
        try:
            values = np.asarray(iteration_scores.scores, dtype=np.float64)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"scores of iteration {iteration_scores.iteration} are not a "
                f"[dataset][parameter][criterion] array of numbers: {error}"
            ) from error
        if values.shape != self.shape:
            raise ValueError(
                f"scores of iteration {iteration_scores.iteration} have shape {values.shape}, "
                f"expected {self.shape} (datasets {self.dataset_names}, parameters "
                f"{self.parameter_labels}, criteria {self.criteria})"
            )
        iteration = int(iteration_scores.iteration)
        entry = ValidationIterationScores(iteration, values.tolist())
        kept = [s for s in self.scores if s.iteration != iteration]
        if len(kept) != len(self.scores):
            logger.info("validation scores of iteration %d replaced", iteration)
        kept.append(entry)
        self.scores = sorted(kept, key=lambda s: s.iteration)

    # --- arrays ---------------------------------------------------------------------------

    def to_array(self) -> np.ndarray:
        """Scores as float64 array (iterations, datasets, parameters, criteria)."""
        if not self.scores:
            return np.zeros((0, *self.shape))
        return np.array([s.scores for s in self.scores], dtype=np.float64)

    def to_xarray(self) -> xr.DataArray:
        """Scores with dims (iterations, datasets, parameters, criteria); parameter labels as
        the parameters coordinate, each criterion's direction as coordinate higher_is_better."""
        criteria = self.criteria
        data = xr.DataArray(
            self.to_array(),
            dims=DIMS,
            coords={
                "iterations": np.array([s.iteration for s in self.scores], dtype=np.int64),
                "datasets": self.dataset_names,
                "parameters": self.parameter_labels,
                "criteria": criteria,
                "higher_is_better": ("criteria", [self.higher_is_better(c) for c in criteria]),
            },
            name="scores",
        )
        try:  # the grid itself, so a reader gets the parameter dicts back
            data.attrs["parameters_json"] = json.dumps(self.parameters)
        except TypeError:
            pass
        return data

    @classmethod
    def from_xarray(
        cls, data: xr.DataArray, evaluation_scores: Any = None, parameters: Any = None
    ) -> ValidationScores:
        """Rebuild from `to_xarray` output; criteria directions come from the array's
        higher_is_better coordinate unless `evaluation_scores` is given."""
        if tuple(data.dims) != DIMS:
            raise ValueError(f"validation scores must have dims {DIMS}, got {data.dims}")
        if evaluation_scores is None:
            if "higher_is_better" not in data.coords:
                raise ValueError("validation scores lack the higher_is_better coordinate")
            evaluation_scores = RecordedCriteria(
                data["criteria"].values.tolist(), data["higher_is_better"].values.tolist()
            )
        if parameters is None:
            stored = data.attrs.get("parameters_json")
            parameters = json.loads(stored) if stored else data["parameters"].values.tolist()
        scores = cls(parameters, [str(d) for d in data["datasets"].values], evaluation_scores)
        if scores.parameter_labels != [str(p) for p in data["parameters"].values]:
            raise ValueError("validation scores: parameters do not match the parameters axis")
        values = data.values
        for index, iteration in enumerate(data["iterations"].values):
            scores.add_iteration_scores(ValidationIterationScores(int(iteration), values[index]))
        return scores

    def to_netcdf(self, path: str | os.PathLike) -> None:
        atomic_write_netcdf(self.to_xarray(), path)

    @classmethod
    def from_netcdf(
        cls, path: str | os.PathLike, evaluation_scores: Any = None
    ) -> ValidationScores:
        try:
            data = xr.load_dataarray(path, engine="h5netcdf")
        except FileNotFoundError:
            raise FileNotFoundError(f"validation scores {os.fspath(path)} do not exist") from None
        except Exception as error:
            raise ValueError(
                f"validation scores {os.fspath(path)} are unreadable: {error}"
            ) from error
        try:
            return cls.from_xarray(data, evaluation_scores)
        except ValueError as error:
            raise ValueError(f"validation scores {os.fspath(path)}: {error}") from error

    # --- best -----------------------------------------------------------------------------

    def get_best(self, data: xr.DataArray, dim: str) -> tuple[xr.DataArray, xr.DataArray]:
        """-> (best coordinate label along `dim`, best value), each criterion with its own
        direction. NaN is never best; where all values are NaN both results are NaN. `data`
        must carry a "criteria" coordinate: a dimension, or 0-d after `.sel(criteria=c)`.
        A view over `argbest`, the one selection rule."""
        if "criteria" not in data.coords:
            raise ValueError("get_best needs a 'criteria' coordinate to know each direction")
        if dim == "criteria":
            raise ValueError("get_best cannot pick a best criterion: criteria are incomparable")
        if dim not in data.dims:
            raise ValueError(f"get_best: {dim!r} is not a dimension of {data.dims}")
        if dim not in data.coords:
            data = data.assign_coords({dim: np.arange(data.sizes[dim])})
        rest = [d for d in data.dims if d != dim]
        moved = data.transpose(*rest, dim)
        template = moved.isel({dim: 0}, drop=True)
        criteria = xr.broadcast(data.coords["criteria"], template)[0]
        criteria = criteria.transpose(*template.dims).values.ravel()
        rows = moved.values.reshape(len(criteria), data.sizes[dim])
        labels = data.coords[dim].values
        indices = [argbest(row, self.higher_is_better(c)) for row, c in zip(rows, criteria)]
        best_label = [np.nan if i is None else labels[i] for i in indices]
        best_value = [np.nan if i is None else row[i] for row, i in zip(rows, indices)]
        shape = template.shape
        return (
            template.copy(data=np.array(best_label).reshape(shape)),
            template.copy(data=np.array(best_value, dtype=float).reshape(shape)),
        )

    def best_per_dataset_and_criterion(self) -> list[dict]:
        """For every (dataset, criterion): the best (iteration, parameters) jointly, with the
        criterion's own direction; NaN never best; ties -> earliest iteration, then first
        parameter. An all-NaN criterion gives iteration, parameters and score None."""
        values = self.to_array()
        iterations = [s.iteration for s in self.scores]
        records = []
        for d, dataset in enumerate(self.dataset_names):
            for c, criterion in enumerate(self.criteria):
                higher = self.higher_is_better(criterion)
                grid = values[:, d, :, c]  # iterations x parameters, row-major = tie order
                record = {
                    "dataset": dataset,
                    "criterion": criterion,
                    "iteration": None,
                    "parameters": None,
                    "score": None,
                    "higher_is_better": higher,
                }
                flat = argbest(grid, higher)
                if flat is not None:
                    i, p = np.unravel_index(flat, grid.shape)
                    record.update(
                        iteration=iterations[i],
                        parameters=self.parameters[p],
                        score=float(grid[i, p]),
                    )
                else:
                    logger.warning(
                        "no valid score for dataset %s, criterion %s: no best iteration",
                        dataset,
                        criterion,
                    )
                records.append(record)
        return records
