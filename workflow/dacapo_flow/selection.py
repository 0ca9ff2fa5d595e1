"""Collecting per-checkpoint results into one array per run, and selecting the best
checkpoint per (validation dataset, criterion). No torch: these are light local jobs."""

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from .stats.training_stats import TrainingStats
from .stats.validation_scores import ValidationScores, parameter_label
from .store.atomic import atomic_write_netcdf
from .store.weights_store import LocalWeightsStore

logger = logging.getLogger(__name__)


def parse_parameter_label(label) -> dict:
    """Inverse of the scores' parameter labels: "threshold=0.25" -> {"threshold": 0.25}."""
    if isinstance(label, dict):
        return label
    if label in ("argmax", ""):
        return {}
    parsed = {}
    for item in str(label).split(","):
        key, _, value = item.partition("=")
        try:
            parsed[key] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            parsed[key] = value
    return parsed


def collect_scores(score_files, stats_files, scores_out: Path, stats_out: Path) -> None:
    """Merge per-iteration validation scores and per-chunk training stats, in order."""
    stats = TrainingStats.concat(
        TrainingStats.from_netcdf(p) for p in sorted_by_iteration(stats_files)
    )
    stats.to_netcdf(stats_out)
    merged = None
    for path in sorted_by_iteration(score_files):
        scores = ValidationScores.from_netcdf(path)
        if merged is None:
            merged = scores
        else:
            for iteration_scores in scores.scores:
                merged.add_iteration_scores(iteration_scores)
    if merged is None:
        # A run without validation datasets still gets its (empty) scores file.
        empty = xr.DataArray(
            np.zeros((0, 0, 0, 0)), dims=("iterations", "datasets", "parameters", "criteria")
        )
        atomic_write_netcdf(empty, scores_out)
        logger.info("no validation datasets: wrote empty %s", scores_out)
        return
    merged.to_netcdf(scores_out)
    logger.info("collected %d checkpoints' scores into %s", len(merged.scores), scores_out)


def sorted_by_iteration(paths) -> list[Path]:
    return sorted((Path(p) for p in paths), key=lambda p: int(p.stem))


def select_best(store: Path, run: str, dataset: str, criterion: str) -> Path:
    """Write `<store>/<run>/<dataset>/<criterion>.json` from the run's collected scores."""
    scores = ValidationScores.from_netcdf(Path(store) / run / "validation_scores.nc")
    if dataset not in scores.dataset_names:
        raise ValueError(f"run {run!r} has no validation dataset {dataset!r}")
    if criterion not in scores.criteria:
        raise ValueError(f"run {run!r} has no criterion {criterion!r}: {scores.criteria}")
    record = next(
        r
        for r in scores.best_per_dataset_and_criterion()
        if r["dataset"] == dataset and r["criterion"] == criterion
    )
    label = record["parameters"]
    path = LocalWeightsStore(store).store_best(
        run,
        record["iteration"],
        dataset,
        criterion,
        parameters=None if label is None else parse_parameter_label(label),
        score=record["score"],
        higher_is_better=record["higher_is_better"],
        parameter_label=None if label is None else parameter_label(label),
    )
    logger.info("best %s on %s: %s", criterion, dataset, record)
    return path
