import argparse
import csv
import json

import numpy as np
import pytest

from dacapo_flow.report.cli import add_parsers, main
from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats
from dacapo_flow.stats.validation_scores import (
    RecordedCriteria,
    ValidationIterationScores,
    ValidationScores,
)
from dacapo_flow.store.atomic import atomic_write_json

LR = "trainer_config.learning_rate"


def sweep_json(tmp_path, run, lr, rep, *extra):
    out = tmp_path / run / "sweep.json"
    grid = json.dumps({LR: lr})
    main(
        ["sweep-metadata", "--out", str(out), "--run", run, "--base-name", "d"]
        + ["--grid", grid, "--repetition", str(rep), "--repetitions", "2", *extra]
    )
    return out


def best_json(tmp_path, run, score, iteration=20):
    record = {
        "iteration": iteration,
        "parameters": {"threshold": 0.0},
        "score": score,
        "higher_is_better": True,
        "dataset": "validate_0",
        "criterion": "mito__dice",
    }
    return atomic_write_json(tmp_path / run / "validate_0" / "mito__dice.json", record)


def test_add_parsers_registers_every_subcommand():
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report-curves", "--stats", "s.nc", "--best", "a.json", "b.json"])
    assert args.func.__name__ == "cmd_report_curves" and len(args.best) == 2
    for command in ("sweep-metadata", "report-leaderboard", "report-lineage"):
        assert command in parser._subparsers._group_actions[0].choices


def test_sweep_metadata_and_leaderboard_from_explicit_files(tmp_path):
    runs = [("d_lr1e-4_rep0", 1e-4, 0, 0.5), ("d_lr1e-4_rep1", 1e-4, 1, 0.7)]
    runs += [("d_lr3e-4_rep0", 3e-4, 0, 0.4)]
    sweeps = [sweep_json(tmp_path, run, lr, rep) for run, lr, rep, _ in runs]
    bests = [best_json(tmp_path, run, score) for run, _, _, score in runs]
    meta = json.loads(sweeps[0].read_text())
    assert (meta["group"], meta["grid"], meta["repetitions"]) == ("d_lr1e-4", {LR: 1e-4}, 2)
    out = tmp_path / "report"
    argv = ["report-leaderboard", "--dataset", "validate_0", "--criterion", "mito__dice"]
    argv += ["--best", *map(str, bests), "--sweep", *map(str, sweeps)]
    for kind in ("csv", "md", "tex", "html"):
        argv += [f"--{kind}", str(out / f"t.{kind}")]
    main(argv)
    rows = list(csv.DictReader((out / "t.csv").open()))
    assert [(r["group"], r["n"], r["expected"]) for r in rows] == [
        ("d_lr1e-4", "2", "2"),
        ("d_lr3e-4", "1", "2"),
    ]
    assert sorted(p.name for p in out.iterdir()) == ["t.csv", "t.html", "t.md", "t.tex"]


def test_mismatched_file_lists_and_wrong_criterion_are_refused(tmp_path):
    sweep = sweep_json(tmp_path, "r", 1e-4, 0)
    best = best_json(tmp_path, "r", 0.5)
    base = ["report-leaderboard", "--dataset", "validate_0", "--csv", str(tmp_path / "t.csv")]
    with pytest.raises(SystemExit, match=r"--best \(2\) and --sweep \(1\)"):
        main(
            [
                *base,
                "--criterion",
                "mito__dice",
                "--best",
                str(best),
                str(best),
                "--sweep",
                str(sweep),
            ]
        )
    with pytest.raises(ValueError, match=rf"{best}: criterion is 'mito__dice', expected 'er'"):
        main([*base, "--criterion", "er", "--best", str(best), "--sweep", str(sweep)])


def test_curves_and_lineage_from_explicit_files(tmp_path):
    stats = TrainingStats(TrainingIterationStats(i, 1.0 / (i + 1), 0.01) for i in range(20))
    stats.to_netcdf(tmp_path / "up" / "training_stats.nc")
    criteria = RecordedCriteria(["mito__dice"], [True])
    scores = ValidationScores([{"threshold": 0.0}], ["validate_0"], criteria)
    for iteration in (10, 20):
        scores.add_iteration_scores(ValidationIterationScores(iteration, np.full((1, 1, 1), 0.5)))
    scores.to_netcdf(tmp_path / "up" / "validation_scores.nc")
    best = best_json(tmp_path, "up", 0.5)
    png, svg = tmp_path / "curves" / "up.png", tmp_path / "curves" / "up.svg"
    main(
        ["report-curves", "--stats", str(tmp_path / "up" / "training_stats.nc")]
        + ["--scores", str(tmp_path / "up" / "validation_scores.nc"), "--best", str(best)]
        + ["--out-png", str(png), "--out-svg", str(svg)]
    )
    assert png.stat().st_size > 0 and svg.stat().st_size > 0

    up = sweep_json(tmp_path, "up", 1e-4, 0)
    ft = sweep_json(tmp_path, "ft", 1e-4, 0, "--start-run", "up")
    ft_meta = json.loads(ft.read_text())
    assert ft_meta["start"] == {"run": "up", "criterion": None, "dataset": None}
    listing = tmp_path / "lineage.json"
    main(
        ["report-lineage", "--sweep", str(up), str(ft), "--start-run", "ft"]
        + ["--start-best", str(best), "--json", str(listing), "--out-svg", str(tmp_path / "l.svg")]
    )
    runs = json.loads(listing.read_text())["runs"]
    assert [(r["run"], r["depth"], r["iteration"]) for r in runs] == [
        ("up", 0, None),
        ("ft", 1, 20),
    ]


def test_sweep_metadata_records_a_start_outside_the_workflow_in_words(tmp_path):
    text = "checkpoint file /groups/lab/mito best.pt"
    meta = json.loads(sweep_json(tmp_path, "ft", 1e-4, 0, "--start-external", text).read_text())
    assert meta["start"] == {"external": text}
