from types import SimpleNamespace

import pytest

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.sweeps import expand_sweep
from dacapo_flow.layout import Layout
from dacapo_flow.report.targets import (
    curves_inputs,
    leaderboard_inputs,
    leaderboard_pairs,
    leaderboard_runs,
    lineage_inputs,
    prediction_previews,
    report_targets,
    results_inputs,
    sweep_metadata_args,
    validation_picture_inputs,
)
from helpers_tiny import run_config_dict, write_yaml

LAYOUT = Layout("results/store")


def planned(config, **extra):
    return SimpleNamespace(name=config.name, config=config, repetition=config.repetition, **extra)


@pytest.fixture
def plan(data, tmp_path):
    """A sweep of two learning rates x 2 repetitions, an upstream run and its finetune."""
    sweep = write_yaml(
        tmp_path / "s.yaml", run_config_dict(data, name="s", select_criteria=["mito__dice"])
    )
    up = run_config_dict(data, name="up", select_criteria=["mito__dice", "nucleus__dice"])
    start = {"run": "up", "criterion": "nucleus__dice"}
    ft = run_config_dict(data, name="ft", select_criteria=["mito__dice"], start_config=start)
    plan = {}
    for run in expand_sweep(sweep, {"trainer_config.learning_rate": [1e-3, 2e-3]}, 2):
        plan[run.name] = planned(
            run.run_config, base_name=run.base_name, grid=run.point, repetitions=run.repetitions
        )
    for name, config in (("up", up), ("ft", ft)):
        plan[name] = planned(load_run_config(write_yaml(tmp_path / f"{name}.yaml", config)))
    return plan


def test_one_leaderboard_per_selected_pair_with_exactly_its_runs(plan):
    assert leaderboard_pairs(plan) == [
        ("validate_0", "mito__dice"),
        ("validate_0", "nucleus__dice"),
    ]
    assert leaderboard_runs(plan, "validate_0", "nucleus__dice") == ["up"]
    inputs = leaderboard_inputs(LAYOUT, plan, "validate_0", "mito__dice")
    assert len(inputs["best"]) == len(inputs["sweep"]) == 6
    assert inputs["best"][0] == "results/store/ft/validate_0/mito__dice.json"
    assert inputs["sweep"][0] == "results/store/ft/sweep.json"


def test_curves_and_lineage_inputs(plan):
    inputs = curves_inputs(LAYOUT, plan["up"])
    assert inputs["stats"] == "results/store/up/training_stats.nc"
    assert inputs["best"] == [
        "results/store/up/validate_0/mito__dice.json",
        "results/store/up/validate_0/nucleus__dice.json",
    ]
    lineage = lineage_inputs(LAYOUT, plan)
    assert len(lineage["sweep"]) == 6 and lineage["start_runs"] == ["ft"]
    # The dataset of the start is resolved: up has one validation dataset.
    assert lineage["start_best"] == ["results/store/up/validate_0/nucleus__dice.json"]


def test_sweep_metadata_args_carry_group_facts_and_start(plan):
    args = sweep_metadata_args(plan["s_lr2e-3_rep1"], plan)
    assert args == [
        "--run", "s_lr2e-3_rep1", "--base-name", "s",
        "--grid", '{"trainer_config.learning_rate": 0.002}',
        "--repetition", "1", "--repetitions", "2",
    ]  # fmt: skip
    assert sweep_metadata_args(plan["ft"], plan)[-6:] == [
        "--start-run", "up", "--start-criterion", "nucleus__dice",
        "--start-dataset", "validate_0",
    ]  # fmt: skip


def test_starts_outside_the_workflow_reach_the_lineage_in_words(data, tmp_path):
    starts = {
        "dacapo_ft": {"runs_base_dir": "/groups/dacapo runs", "run": "mito", "iteration": 5},
        "best_ft": {"runs_base_dir": "d", "run": "m", "criterion": "voi", "dataset": "v"},
        "file_ft": {"checkpoint": "w/best.pt"},
    }
    plan = {
        name: planned(
            load_run_config(
                write_yaml(
                    tmp_path / f"{name}.yaml", run_config_dict(data, name=name, start_config=start)
                ),
            )
        )
        for name, start in starts.items()
    }
    said = {name: sweep_metadata_args(run, plan)[-2:] for name, run in plan.items()}
    assert said == {
        "dacapo_ft": ["--start-external", "DaCapo run mito (iteration 5) in /groups/dacapo runs"],
        "best_ft": ["--start-external", "DaCapo run m (best voi on v) in d"],
        "file_ft": ["--start-external", "checkpoint file w/best.pt"],
    }
    assert lineage_inputs(LAYOUT, plan)["start_runs"] == []  # no best JSON of ours to read


def test_results_and_pictures_read_the_best_records_they_show(plan):
    ft = plan["ft"]
    assert results_inputs(LAYOUT, ft) == {
        "sweep": "results/store/ft/sweep.json",
        "best": ["results/store/ft/validate_0/mito__dice.json"],
    }
    assert validation_picture_inputs(LAYOUT, plan["up"], "validate_0") == {
        "best": "results/store/up/validate_0/mito__dice.json",
        "weights": "results/store/up/validate_0/mito__dice.pt",
    }
    assert prediction_previews(LAYOUT, {"b": 1, "a": 2}) == [
        "results/store/report/predictions/a.png",
        "results/store/report/predictions/b.png",
    ]


def test_report_targets_and_logs(plan):
    targets = report_targets(LAYOUT, plan)
    assert "results/store/report/leaderboard/validate_0/mito__dice.tex" in targets
    assert "results/store/report/curves/s_lr1e-3_rep0.svg" in targets
    assert "results/store/report/lineage.svg" in targets
    assert "results/store/report/results/ft.html" in targets
    assert "results/store/report/validation/ft/validate_0.png" in targets
    # leaderboards, curves, lineage, then per run a results page and a validation picture
    assert len(targets) == 2 * 4 + 6 * 2 + 4 + 6 + 6
    assert LAYOUT.report_log("curves", "up") == "results/store/report/logs/curves/up.log"
