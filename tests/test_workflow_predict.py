"""Prediction targets in the real workflow (DESIGN §8): a target added to a completed workflow
runs only its own jobs, from the winning weights, and ends verified; the output opens with
its voxel size and offset; a lost shard and a reselected model redo what they must."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from dacapo_flow.data.arrays import open_array
from dacapo_flow.layout import Layout
from workflow_support import PREDICTION_TARGET, STORE, dry_run, edit_run_config, run_snakemake

pytestmark = pytest.mark.workflow
LAYOUT = Layout(STORE)
PREDICT_RULES = (
    "predict_prepare",
    "predict_shard",
    "segment_shard",
    "segment_merge",
    "relabel_shard",
    "predict_verify",
)


def add_target(workdir, **changes):
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["predictions"] = [PREDICTION_TARGET | changes]
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def rules_planned(plan) -> dict:
    return {rule: plan.count(rule) for rule in PREDICT_RULES if plan.count(rule)}


@pytest.fixture(scope="module")
def predicted(completed_workflow, tmp_path_factory):
    """The completed tiny workflow plus one verified prediction target."""
    workdir = tmp_path_factory.mktemp("predicted") / "work"
    shutil.copytree(completed_workflow, workdir, symlinks=True)
    add_target(workdir)
    plan = dry_run(workdir).check()
    run_snakemake(workdir).check()
    return workdir, plan


def test_a_new_target_runs_only_its_own_jobs_sharded(predicted):
    _, plan = predicted
    assert rules_planned(plan) == {
        "predict_prepare": 1,
        "predict_shard": 2,
        "segment_shard": 2,
        "segment_merge": 1,
        "relabel_shard": 2,
        "predict_verify": 1,
    }
    # and the target's preview in the report
    assert plan.count("prediction_preview") == 1
    assert {job.rule for job in plan.jobs} <= {*PREDICT_RULES, "prediction_preview", "all"}, (
        plan.describe()
    )
    (prepare,) = plan.select("predict_prepare")
    assert LAYOUT.best_weights("affinities", "validate_0", "voi") in prepare.input
    # the merge asks for the profiles' default memory: no mutex watershed in this run
    (merge,) = plan.select("segment_merge")
    assert merge.resources["mem_mb"] == "2000"


def test_the_outputs_are_verified_and_open_in_register_with_the_raw(predicted):
    workdir, _ = predicted
    paths = LAYOUT.prediction("aff")
    verified = json.loads((workdir / paths.verified).read_text())
    assert verified["outputs"]["segmentation"] == ["prediction/labels/segmentation/s0"]
    raw = open_array(workdir / "data/synthetic/validate_0.zarr", "raw")
    for name in ("prediction/s0", "prediction/labels/segmentation/s0"):
        array = open_array(workdir / paths.zarr, name)
        assert array.voxel_size == raw.voxel_size and array.roi.offset == raw.roi.offset
    prediction = open_array(workdir / paths.zarr, "prediction/s0").read(raw.roi)
    segmentation = open_array(workdir / paths.zarr, "prediction/labels/segmentation/s0").read(
        raw.roi
    )
    assert prediction.shape[1:] == segmentation.shape[1:] == raw.roi.shape / raw.voxel_size
    assert np.isfinite(prediction).all() and prediction.std() > 0
    assert dry_run(workdir).check().jobs == []
    # every shard logged its progress and its end; the report has the target's preview
    for kind in ("predict", "segment", "relabel"):
        log = (workdir / paths.log(f"{kind}_shard", 0)).read_text()
        assert f"{kind}: done, " in log and " blocks/s)" in log, log
    assert "merge: " in (workdir / paths.log("segment_merge")).read_text()
    assert (workdir / LAYOUT.prediction_preview("aff")).stat().st_size > 0


def test_the_target_of_the_validation_volume_scores_what_validation_selected(predicted):
    """The target covers validate_0 whole, as validation predicts it (the same block grid),
    and thresholds block by block exactly: its score is the selected one."""
    workdir, _ = predicted
    out = workdir / "aff_scores.json"
    command = [sys.executable, "-m", "dacapo_flow.cli", "score-prediction", "aff", "--out", out]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    best = json.loads((workdir / LAYOUT.best_record("affinities", "validate_0", "voi")).read_text())
    assert record["criterion"] == "voi" and record["iteration"] == best["iteration"]
    assert record["scores"]["voi"] == pytest.approx(best["score"], abs=1e-9)
    assert abs(record["gap"]) < 1e-9 and record["left_out_voxels"] == 0
    assert "selected on validation" in result.stdout


def test_a_lost_shard_is_redone_alone_and_a_retrained_run_redoes_everything(predicted, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(predicted[0], workdir, symlinks=True)
    # A killed shard leaves no shard JSON, and nothing after it has run.
    (workdir / LAYOUT.prediction("aff").shard("predict", 1)).unlink()
    (workdir / LAYOUT.prediction("aff").verified).unlink()
    plan = dry_run(workdir).check()
    assert plan.count("predict_shard") == 1 and plan.count("predict_prepare") == 0
    assert plan.select("predict_shard")[0].wildcards["shard"] == "1"

    edit_run_config(workdir, "affinities", lambda run: run["task_config"].update(thresholds=[0.7]))
    plan = dry_run(workdir).check()
    assert rules_planned(plan)["predict_prepare"] == 1, plan.describe()
    assert plan.count("predict_shard") == 2 and plan.count("train_chunk") == 0


def test_a_bad_target_fails_the_dag_build_in_plain_words(fresh_workflow):
    """Schema errors of a target name the file and the key, not raw JSON-schema text."""
    import re

    add_target(fresh_workflow, pyramid="maybe", block_shape=[0, "a", 8])
    result = dry_run(fresh_workflow)
    assert result.returncode != 0
    key = r"config/config\.yaml: predictions(\.0|\[0\])\."  # either way of writing an index
    assert re.search(key + r"pyramid: Input should be a valid boolean", result.output)
    assert re.search(
        key + r"block_shape(\.1|\[1\]): Input should be a valid integer", result.output
    )
    assert "Failed validating" not in result.output and "schema[" not in result.output
