"""Inputs and outputs of the report rules, from the run plan and the store layout.

`workflow/rules/report.smk` calls these; they only build paths and argument lists (no I/O,
no torch), so they are cheap at parse time. A planned run needs `.name`, `.repetition` and
`.config` (a RunConfig); sweep runs also carry `.base_name`, `.grid` and `.repetitions`
(plain runs default to their own name, an empty grid and no planned repetitions).

    <store>/<run>/sweep.json                                  per run: group, repetition, start
    <store>/report/leaderboard/<dataset>/<criterion>.<ext>    csv, md, tex, html
    <store>/report/curves/<run>.<ext>                         png, svg
    <store>/report/lineage.<ext>                              json, md, png, svg
    <store>/report/results/<run>.html                         per run: selected scores
    <store>/report/validation/<run>/<dataset>.png             per run and validation dataset
    <store>/report/predictions/<target>.png                   per prediction target
"""

from __future__ import annotations

import json

from ..config.starts import CheckpointStartConfig, DaCapoRunStartConfig
from ..layout import Layout
from ..plan.starts import start_dataset

LEADERBOARD_FORMATS = ("csv", "md", "tex", "html")
CURVE_FORMATS = ("png", "svg")
LINEAGE_FORMATS = ("json", "md", "png", "svg")


# --- which runs go where ------------------------------------------------------------------


def selected_pairs(run) -> list[tuple[str, str]]:
    """(dataset, criterion) pairs a run writes best JSONs for."""
    config = run.config
    return [(d, c) for d in config.validation_dataset_names() for c in config.selected_criteria()]


def leaderboard_pairs(plan: dict) -> list[tuple[str, str]]:
    """Every (dataset, criterion) some run selects: one leaderboard each, sorted."""
    return sorted({pair for run in plan.values() for pair in selected_pairs(run)})


def leaderboard_runs(plan: dict, dataset: str, criterion: str) -> list[str]:
    """The runs in one leaderboard, by name: adding a run that selects other pairs leaves
    this list, and so this table, untouched."""
    return sorted(name for name, run in plan.items() if (dataset, criterion) in selected_pairs(run))


def leaderboard_inputs(layout: Layout, plan: dict, dataset: str, criterion: str) -> dict:
    runs = leaderboard_runs(plan, dataset, criterion)
    return {
        "best": [layout.best_record(run, dataset, criterion) for run in runs],
        "sweep": [layout.sweep_metadata(run) for run in runs],
    }


def curves_inputs(layout: Layout, run) -> dict:
    return {
        "stats": layout.training_stats(run.name),
        "scores": layout.validation_scores(run.name),
        "best": [layout.best_record(run.name, d, c) for d, c in selected_pairs(run)],
    }


def results_inputs(layout: Layout, run) -> dict:
    return {
        "sweep": layout.sweep_metadata(run.name),
        "best": [layout.best_record(run.name, d, c) for d, c in selected_pairs(run)],
    }


def picture_criterion(run) -> str | None:
    """The criterion whose selected model a run's validation pictures show: its first."""
    criteria = run.config.selected_criteria()
    return criteria[0] if criteria else None


def validation_picture_inputs(layout: Layout, run, dataset: str) -> dict:
    criterion = picture_criterion(run)
    return {
        "best": layout.best_record(run.name, dataset, criterion),
        "weights": layout.best_weights(run.name, dataset, criterion),
    }


def start_of(run, plan: dict) -> dict | None:
    """Where a run starts from: {run, criterion, dataset} (dataset resolved when implicit),
    {external: what} for a DaCapo run or a checkpoint file, None for a fresh run."""
    start = run.config.start_config
    if start is None:
        return None
    if isinstance(start, DaCapoRunStartConfig):
        which = (
            f"iteration {start.iteration}"
            if start.criterion is None
            else (f"best {start.criterion}" + (f" on {start.dataset}" if start.dataset else ""))
        )
        return {"external": f"DaCapo run {start.run} ({which}) in {start.runs_base_dir}"}
    if isinstance(start, CheckpointStartConfig):
        return {"external": f"checkpoint file {start.checkpoint}"}
    return {"run": start.run, "criterion": start.criterion, "dataset": start_dataset(run, plan)}


def lineage_inputs(layout: Layout, plan: dict) -> dict:
    """Every run's sweep.json, and the upstream best JSON each finetune started from."""
    starts = {name: start_of(run, plan) for name, run in sorted(plan.items())}
    finetunes = [
        name for name, s in starts.items() if s and "run" in s and not s["criterion"].isdigit()
    ]
    return {
        "sweep": [layout.sweep_metadata(name) for name in sorted(plan)],
        "start_best": [
            layout.best_record(starts[n]["run"], starts[n]["dataset"], starts[n]["criterion"])
            for n in finetunes
        ],
        "start_runs": finetunes,
    }


def sweep_metadata_args(run, plan: dict) -> list[str]:
    """Arguments of `dacapo-flow sweep-metadata` for one planned run (quote each with :q)."""
    args = ["--run", run.name, "--base-name", getattr(run, "base_name", None) or run.name]
    args += ["--grid", json.dumps(getattr(run, "grid", None) or {}, sort_keys=True)]
    args += ["--repetition", str(run.repetition)]
    repetitions = getattr(run, "repetitions", None)
    if repetitions is not None:
        args += ["--repetitions", str(repetitions)]
    start = start_of(run, plan)
    if start is not None and "external" in start:
        args += ["--start-external", start["external"]]
    elif start is not None:
        args += ["--start-run", start["run"], "--start-criterion", start["criterion"]]
        if start["dataset"] is not None:
            args += ["--start-dataset", start["dataset"]]
    return args


def report_targets(layout: Layout, plan: dict) -> list[str]:
    """Every output of the report stage (what `rule report` asks for)."""
    targets = [
        layout.leaderboard(d, c, ext)
        for d, c in leaderboard_pairs(plan)
        for ext in LEADERBOARD_FORMATS
    ]
    targets += [layout.curves(name, ext) for name in sorted(plan) for ext in CURVE_FORMATS]
    targets += [layout.lineage(ext) for ext in LINEAGE_FORMATS]
    targets += [layout.results(name) for name in sorted(plan)]
    targets += [
        layout.validation_picture(name, dataset)
        for name in sorted(plan)
        if picture_criterion(plan[name]) is not None
        for dataset in plan[name].config.validation_dataset_names()
    ]
    return targets


def prediction_previews(layout: Layout, predictions) -> list[str]:
    """The preview of every prediction target (what `rule report_outputs` asks for too)."""
    return [layout.prediction_preview(name) for name in sorted(predictions)]
