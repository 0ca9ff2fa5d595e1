"""Collecting per-checkpoint results into one array per run, and selecting the best
checkpoint per (validation dataset, criterion). No torch: these are light local jobs."""

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from .layout import iteration_of
from .stats.training_stats import TrainingStats
from .stats.validation_scores import ValidationScores
from .store.atomic import atomic_write_netcdf
from .store.best_record import BestRecord

logger = logging.getLogger(__name__)


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
    return sorted((Path(p) for p in paths), key=iteration_of)


class SelectionError(ValueError):
    """No best checkpoint can be selected (unknown names, no valid score, missing file)."""


def best_record(scores: ValidationScores, dataset: str, criterion: str, source="scores") -> dict:
    """The best (iteration, parameters, score) of one (dataset, criterion), with the
    criterion's own direction (`argbest`: NaN never best, ties to the earliest)."""
    if dataset not in scores.dataset_names:
        raise SelectionError(
            f"{source} has no validation dataset {dataset!r} (has {scores.dataset_names})"
        )
    if criterion not in scores.criteria:
        raise SelectionError(f"{source} has no criterion {criterion!r}: {scores.criteria}")
    record = next(
        r
        for r in scores.best_per_dataset_and_criterion()
        if r["dataset"] == dataset and r["criterion"] == criterion
    )
    if record["iteration"] is None:
        iterations = [s.iteration for s in scores.scores]
        raise SelectionError(
            f"{source}: no checkpoint has a valid score for {criterion} on {dataset} "
            f"(all NaN at iterations {iterations}); nothing to select. A metric that is NaN "
            "everywhere usually means empty predictions: check the task's thresholds"
        )
    return record


def select_best(
    scores_file: Path,
    dataset: str,
    criterion: str,
    checkpoints,
    record_out: Path,
    weights_out: Path,
) -> BestRecord:
    """Select the best checkpoint of `scores_file` for (`dataset`, `criterion`) among
    `checkpoints` (files named after their iteration); write its model weights to
    `weights_out` and the best record (with the checkpoint's training-config hash) to
    `record_out`. Weights first, record last: the record is what says the pair is complete."""
    scores = ValidationScores.from_netcdf(scores_file)
    record = best_record(scores, dataset, criterion, source=str(scores_file))
    by_iteration = {iteration_of(p): Path(p) for p in checkpoints}
    checkpoint = by_iteration.get(record["iteration"])
    if checkpoint is None:
        raise SelectionError(
            f"best iteration {record['iteration']} of {scores_file} is not among the "
            f"checkpoints given ({sorted(by_iteration)})"
        )
    from .store.model_file import copy_winning_weights  # torch only for older checkpoints

    weights = copy_winning_weights(checkpoint, weights_out)
    result = BestRecord(
        iteration=record["iteration"],
        parameters=record["parameters"],
        score=record["score"],
        higher_is_better=record["higher_is_better"],
        dataset=dataset,
        criterion=criterion,
        config_hash=weights.config_hash,
        head_labels=weights.head_labels,
        checkpoint=str(checkpoint),
        weights=str(weights_out),
        grid_edges=grid_edges(scores.parameters, record["parameters"]),
    )
    result.write(record_out)
    logger.info(
        "best %s on %s: iteration %s, %s, score %s",
        criterion,
        dataset,
        result.iteration,
        result.label,
        result.score,
    )
    if result.edge_warning():
        logger.warning("best %s on %s: %s", criterion, dataset, result.edge_warning())
    return result


def grid_edges(grid: list, selected) -> dict[str, str]:
    """Parameters whose selected value is the lowest or highest of its grid ("extend the
    grid"), compared among the grid points of the same family (same keys). A minimum object
    size of 0 (no filtering) is an end, not an edge."""
    if not isinstance(selected, dict):
        return {}
    family = [p for p in grid if isinstance(p, dict) and set(p) == set(selected)]
    edges = {}
    for key, value in selected.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        values = {p[key] for p in family}
        if len(values) < 2 or (key == "min_size" and value == 0):
            continue
        if value == min(values):
            edges[key] = "lowest"
        elif value == max(values):
            edges[key] = "highest"
    return edges
