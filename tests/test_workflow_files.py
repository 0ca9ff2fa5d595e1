"""Files, not names, cross the boundary: the user-visible failures of name-based paths.

Each test runs real Snakemake on a copy of the completed tiny workflow (or a fresh one) and
checks what a user sees: finetunes load the winning weights *file* their DAG depends on, and
paths reach the shell quoted."""

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from dacapo_flow.layout import Layout
from dacapo_flow.stats.validation_scores import ValidationScores, argbest
from workflow_support import (
    STORE,
    dry_run,
    edit_run_config,
    install_workflow,
    run_snakemake,
    tiny_run_config,
    tiny_workflow_config,
)

pytestmark = pytest.mark.workflow
LAYOUT = Layout(STORE)


def finetune_log(workdir) -> str:
    return (workdir / LAYOUT.log("finetune", "train_chunk", 2)).read_text()


def assert_same_model(path_a, path_b):
    a = torch.load(path_a, weights_only=True)["model"]
    b = torch.load(path_b, weights_only=True)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_renamed_upstream_dataset_leaves_no_stale_record_in_the_way(completed_copy):
    edit_run_config(
        completed_copy,
        "distance",
        lambda run: run["datasplit_config"]["validate_configs"][0].update(name="val_a"),
    )
    edit_run_config(completed_copy, "finetune", lambda run: run["start_config"].pop("dataset"))
    run_snakemake(completed_copy).check()
    stale = completed_copy / LAYOUT.best_record("distance", "validate_0", "mito__dice")
    assert stale.exists()  # the old record is still there, and does not matter
    winner = LAYOUT.best_weights("distance", "val_a", "mito__dice")
    assert f"starter weights {winner}" in finetune_log(completed_copy)


def test_a_deleted_middle_checkpoint_does_not_break_a_finetune_from_it(completed_copy):
    # Select a criterion whose winner is checkpoint 2, the middle one (ties go to the earliest
    # iteration, so one exists here), and start the finetune from it.
    scores = ValidationScores.from_netcdf(completed_copy / LAYOUT.validation_scores("distance"))
    values = scores.to_array()[:, 0]  # iterations x parameters x criteria
    iterations = [s.iteration for s in scores.scores]
    middle = [
        criterion
        for c, criterion in enumerate(scores.criteria)
        if (i := argbest(values[:, :, c], scores.higher_is_better(criterion))) is not None
        and iterations[np.unravel_index(i, values.shape[:2])[0]] == 2
    ]
    assert middle, "no criterion has its best at checkpoint 2"
    edit_run_config(
        completed_copy, "distance", lambda run: run["select_criteria"].append(middle[0])
    )
    edit_run_config(
        completed_copy, "finetune", lambda run: run["start_config"].update(criterion=middle[0])
    )
    run_snakemake(completed_copy).check()
    best = json.loads(
        (completed_copy / LAYOUT.best_record("distance", "validate_0", middle[0])).read_text()
    )
    assert best["iteration"] == 2

    (completed_copy / LAYOUT.checkpoint("distance", 2)).unlink()
    assert dry_run(completed_copy).check().jobs == []  # nothing depends on it any more
    finetune_chunk = LAYOUT.checkpoint("finetune", 2)
    run_snakemake(completed_copy, "--forcerun", finetune_chunk, finetune_chunk).check()
    winner = LAYOUT.best_weights("distance", "validate_0", middle[0])
    assert f"starter weights {winner} (iteration 2)" in finetune_log(completed_copy)


def test_a_retrained_upstream_retrains_the_finetune_from_the_new_winner(completed_copy):
    winner = completed_copy / LAYOUT.best_weights("distance", "validate_0", "mito__dice")
    before = torch.load(winner, weights_only=True)["model"]
    edit_run_config(
        completed_copy, "distance", lambda run: run["trainer_config"].update(learning_rate=0.02)
    )
    plan = dry_run(completed_copy).check()
    assert plan.iterations("train_chunk", "finetune") == [2], plan.describe()
    run_snakemake(completed_copy).check()
    after = torch.load(winner, weights_only=True)
    assert not all(torch.equal(before[k], after["model"][k]) for k in before)
    record = json.loads(
        (completed_copy / LAYOUT.best_record("distance", "validate_0", "mito__dice")).read_text()
    )
    checkpoint = completed_copy / LAYOUT.checkpoint("distance", record["iteration"])
    assert_same_model(winner, checkpoint)
    assert record["config_hash"] == torch.load(checkpoint, weights_only=True)["config_hash"]
    assert f"(iteration {record['iteration']})" in finetune_log(completed_copy)


def test_paths_with_spaces_and_shell_syntax_are_quoted_and_never_executed(tmp_path):
    workdir = install_workflow(tmp_path / "work dir", runs={"my run": tiny_run_config("distance")})
    config = tiny_workflow_config()
    config["store"] = "results/my store$(touch INJECTED)`touch INJECTED2`"
    config["runs"] = [{"config": "config/runs/my run.yaml"}]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_snakemake(workdir).check()
    assert not list(tmp_path.rglob("INJECTED*"))
    store = Layout(workdir / config["store"])
    assert (workdir / store.best_weights("distance", "validate_0", "mito__dice")).is_file()
    assert (workdir / store.checkpoint("distance", 4)).is_file()
    shutil.rmtree(workdir / "results")
