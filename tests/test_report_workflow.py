"""workflow/rules/report.smk under real Snakemake, on a store of stats, scores and best JSONs
written by the library (no training: the report stage never trains or validates), then
`snakemake --report` opened in headless Chromium.

The Snakefile here stands in for the lead's common.smk: it builds LAYOUT and PLAN (a sweep of
two learning rates x 2 repetitions, an upstream run and its finetune) and puts a
`dacapo-flow` on PATH that has the report subcommands.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from browser import render, require_chromium, visible_text
from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.sweeps import expand_sweep
from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats
from dacapo_flow.stats.validation_scores import (
    RecordedCriteria,
    ValidationIterationScores,
    ValidationScores,
)
from dacapo_flow.store.weights_store import LocalWeightsStore
from helpers_tiny import run_config_dict, write_yaml
from workflow_support import REPO_ROOT, SnakemakeResult, snakemake_command, snakemake_env

pytestmark = pytest.mark.workflow
STORE = "results/store"
GRID = {"trainer_config.learning_rate": [1e-3, 2e-3]}

SNAKEFILE = """
from types import SimpleNamespace

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.sweeps import expand_sweep
from dacapo_flow.layout import Layout

configfile: "config.yaml"
report: "{repo}/workflow/report/workflow.rst"

LAYOUT = Layout(config["store"])
PLAN = {{}}
for entry in config["runs"]:
    if "grid" in entry:
        for r in expand_sweep(entry["config"], entry["grid"], entry.get("repetitions")):
            PLAN[r.name] = SimpleNamespace(
                name=r.name, config=r.run_config, repetition=r.repetition,
                base_name=r.base_name, grid=r.point, repetitions=r.repetitions,
            )
    else:
        c = load_run_config(entry["config"])
        PLAN[c.name] = SimpleNamespace(name=c.name, config=c, repetition=c.repetition)


wildcard_constraints:
    run=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    criterion=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


def run_of(wildcards):
    return PLAN[wildcards.run]


include: "{repo}/workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report_outputs.input,
"""


def fabricate_run(store: Path, config, seed: int) -> None:
    """What train/validate/select leave in the store for `config`, without training."""
    rng = np.random.default_rng(seed)
    steps = config.num_iterations
    stats = TrainingStats(
        TrainingIterationStats(i, float(1 / (i + 1) + 0.05 * rng.random()), 0.01)
        for i in range(steps)
    )
    stats.to_netcdf(store / config.name / "training_stats.nc")
    criteria = config.selected_criteria()
    recorded = RecordedCriteria(criteria, [config.higher_is_better(c) for c in criteria])
    datasets = config.validation_dataset_names()
    scores = ValidationScores([{"threshold": 0.0}, {"threshold": 0.2}], datasets, recorded)
    for iteration in config.iterations():
        values = rng.random((len(datasets), 2, len(criteria)))
        scores.add_iteration_scores(ValidationIterationScores(iteration, values))
    scores.to_netcdf(store / config.name / "validation_scores.nc")
    weights_store = LocalWeightsStore(store)
    for record in scores.best_per_dataset_and_criterion():
        dataset, criterion = record.pop("dataset"), record.pop("criterion")
        weights_store.store_best(config.name, record.pop("iteration"), dataset, criterion, **record)


def write_run(workdir: Path, data, name: str, **changes) -> str:
    path = write_yaml(
        workdir / "config" / f"{name}.yaml", run_config_dict(data, name=name, **changes)
    )
    return str(path.relative_to(workdir))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from helpers_tiny import synthetic_data_dir

    data = synthetic_data_dir(tmp_path_factory)
    workdir = tmp_path_factory.mktemp("report_workflow")
    (workdir / "Snakefile").write_text(SNAKEFILE.format(repo=REPO_ROOT))
    # A `dacapo-flow` with the report subcommands of this checkout, first on PATH.
    shim = workdir / "bin" / "dacapo-flow"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dacapo_flow.report.cli "$@"\n')
    shim.chmod(0o755)
    runs = [
        {"config": write_run(workdir, data, "s", select_criteria=["mito__dice"]), "grid": GRID}
        | {"repetitions": 2},
        {"config": write_run(workdir, data, "up", select_criteria=["mito__dice", "nucleus__dice"])},
        {
            "config": write_run(
                workdir,
                data,
                "ft",
                select_criteria=["mito__dice"],
                start_config={"run": "up", "criterion": "nucleus__dice"},
            )
        },
    ]
    (workdir / "config.yaml").write_text(yaml.safe_dump({"store": STORE, "runs": runs}))
    store = workdir / STORE
    sweep_runs = expand_sweep(workdir / runs[0]["config"], GRID, 2)
    configs = [run.run_config for run in sweep_runs]
    configs += [load_run_config(workdir / entry["config"]) for entry in runs[1:]]
    for seed, config in enumerate(configs):
        fabricate_run(store, config, seed)
    return workdir


def snakemake(workdir: Path, *args: str) -> SnakemakeResult:
    env = snakemake_env()
    env["PATH"] = os.pathsep.join([str(workdir / "bin"), env["PATH"]])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "workflow"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        snakemake_command(*args, cores=1),
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return SnakemakeResult(list(args), done.returncode, done.stdout)


@pytest.fixture(scope="module")
def built(workdir):
    snakemake(workdir).check()
    return workdir


def test_the_report_stage_builds_every_output(built):
    report = built / STORE / "report"
    with (report / "leaderboard" / "validate_0" / "mito__dice.csv").open() as file:
        rows = list(csv.DictReader(file))
    groups = {row["group"]: (row["n"], row["expected"]) for row in rows}
    assert groups == {"s_lr1e-3": ("2", "2"), "s_lr2e-3": ("2", "2"), "up": ("1", "1")} | {
        "ft": ("1", "1")
    }
    nucleus = (report / "leaderboard" / "validate_0" / "nucleus__dice.md").read_text()
    assert "| 1 | up | up |" in nucleus
    assert sorted(p.name for p in (report / "curves").iterdir()) == sorted(
        f"{run}.{ext}"
        for run in ("ft", "up", "s_lr1e-3_rep0", "s_lr1e-3_rep1", "s_lr2e-3_rep0", "s_lr2e-3_rep1")
        for ext in ("png", "svg")
    )
    lineage = (report / "lineage.md").read_text()
    assert "  - **ft**: from best nucleus__dice on validate_0 of up (iteration" in lineage


def test_nothing_reruns_and_a_new_run_touches_only_its_tables(built, tmp_path, data):
    assert "Nothing to be done" in snakemake(built, "--dry-run").check().output
    entries = yaml.safe_load((built / "config.yaml").read_text())
    extra = write_run(built, data, "extra", select_criteria=["nucleus__dice"])
    fabricate_run(built / STORE, load_run_config(built / extra), 99)
    entries["runs"].append({"config": extra})
    (built / "config.yaml").write_text(yaml.safe_dump(entries))
    try:
        planned = snakemake(built, "--dry-run", "--printshellcmds").check()
        jobs = sorted((job.rule, tuple(sorted(job.wildcards.items()))) for job in planned.jobs)
        assert jobs == [
            ("all", ()),
            ("curves", (("run", "extra"),)),
            ("leaderboard", (("criterion", "nucleus__dice"), ("dataset", "validate_0"))),
            ("lineage", ()),
            ("sweep_metadata", (("run", "extra"),)),
        ], planned.describe()
    finally:
        entries["runs"].pop()
        (built / "config.yaml").write_text(yaml.safe_dump(entries))


def test_the_snakemake_report_opens_in_a_browser(built, tmp_path):
    require_chromium()
    snakemake(built, "--report", "report.html").check()
    dom = render(built / "report.html", screenshot=tmp_path / "report.png", budget_ms=10000)
    text = visible_text(dom)  # rendered by the report's scripts, not just embedded data
    for category in ("Leaderboards", "Curves", "Lineage", "Workflow", "Statistics"):
        assert category in text, textwrap.shorten(text, 2000)
    assert "This report holds the leaderboards over sweeps" in text  # workflow.rst
    assert (tmp_path / "report.png").stat().st_size > 0
