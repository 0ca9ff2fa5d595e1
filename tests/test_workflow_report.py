"""The paper outputs of the real workflow (DESIGN §9): `snakemake --report` of the tiny
workflow opens in headless Chromium with its leaderboards and curves, and a sweep grows by
scheduling only its new runs."""

import csv
import os
import shutil
import textwrap

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from browser import render, require_chromium, visible_text
from dacapo_flow.layout import Layout
from workflow_support import STORE, dry_run, install_workflow, run_snakemake, tiny_run_config

pytestmark = pytest.mark.workflow
LAYOUT = Layout(STORE)


def test_the_report_of_the_tiny_workflow_opens_with_leaderboards_and_curves(
    completed_copy, tmp_path
):
    require_chromium()
    leaderboard = completed_copy / LAYOUT.leaderboard("validate_0", "mito__dice", "csv")
    with leaderboard.open() as file:
        rows = list(csv.DictReader(file))
    assert {row["group"] for row in rows} == {"distance", "finetune"}
    assert all(row["n"] == "1" for row in rows)

    run_snakemake(completed_copy, "--report", "report.html").check()
    # Kept where a person can look at it (the CI log prints the path).
    shot = tmp_path / "report.png"
    dom = render(
        completed_copy / "report.html", screenshot=shot, budget_ms=10000, window=(1280, 1400)
    )
    text = visible_text(dom)
    for expected in ("1. Results", "2. Validation", "Leaderboards", "Curves", "Lineage"):
        assert expected in text, textwrap.shorten(text, 2000)
    # The landing page itself shows each run's selected scores and validation pictures.
    assert "validate_0 mito__dice higher" in text, textwrap.shorten(text, 2000)
    assert "Run distance on validation dataset validate_0." in text
    assert shot.stat().st_size > 0
    print(f"report screenshot: {shot}")
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])

    # The results page of a run, as the report shows it, and its validation picture.
    results = completed_copy / LAYOUT.results("distance")
    page = visible_text(render(results, screenshot=tmp_path / "results.png"))
    assert "validate_0 mito__dice higher" in page, page
    picture = imread(completed_copy / LAYOUT.validation_picture("distance", "validate_0"))
    columns = np.array_split(picture[..., :3], 4, axis=1)
    assert min(float(column.std()) for column in columns) > 0.01  # four panels drawn
    print(f"results screenshot: {tmp_path / 'results.png'}")


def sweep_config(learning_rates) -> dict:
    return {
        "store": STORE,
        "synthetic_data": "data/synthetic",
        "runs": [
            {
                "config": "config/runs/distance.yaml",
                "grid": {"trainer_config.learning_rate": learning_rates},
                "repetitions": 2,
            }
        ],
    }


def write_config(workdir, config):
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_adding_a_grid_value_schedules_only_the_new_runs(tmp_path):
    run = tiny_run_config("distance")
    run["num_iterations"] = 2  # one chunk per run: the sweep is about names and scheduling
    workdir = install_workflow(
        tmp_path / "sweep", runs={"distance": run}, config=sweep_config([1e-3])
    )
    done = run_snakemake(workdir).check()
    # at the end, snakemake prints each run's selected scores and where the report is
    summary = done.output.split("dacapo-flow: selected checkpoints", 1)[1].splitlines()
    rows = [line.split()[:3] for line in summary if line.startswith("  distance_")]
    assert ["distance_lr1e-3_rep1", "validate_0", "mito__dice"] in rows, done.output[-3000:]
    assert any(line.startswith(f"report: {STORE}/report/") for line in summary)
    old = {"distance_lr1e-3_rep0", "distance_lr1e-3_rep1"}
    for name in old:
        sweep = yaml.safe_load((workdir / LAYOUT.sweep_metadata(name)).read_text())
        assert sweep["grid"] == {"trainer_config.learning_rate": 1e-3}

    write_config(workdir, sweep_config([1e-3, 2e-3]))
    plan = dry_run(workdir).check()
    trained = {job.run for job in plan.select("train_chunk")}
    assert trained == {"distance_lr2e-3_rep0", "distance_lr2e-3_rep1"}, plan.describe()
    assert not {job.run for job in plan.jobs if job.run} & old, plan.describe()
    (chunk,) = [job for job in plan.select("train_chunk") if job.run.endswith("rep0")]
    # The chunk reads its run's resolved config, the grid point applied (written by the plan).
    resolved = LAYOUT.run_config("distance_lr2e-3_rep0")
    assert f"--run-config {resolved} " in chunk.shell
    resolved = yaml.safe_load((workdir / resolved).read_text())
    assert (resolved["trainer_config"]["learning_rate"], resolved["repetition"]) == (0.002, 0)
