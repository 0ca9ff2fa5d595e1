"""The tiny workflow run for real: the store it leaves (DESIGN §4), best JSONs that agree with
the collected scores, checkpoints that load with weights_only, and a finetune that starts from
its upstream run's best checkpoint with head rows matched by label."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from workflow_support import STORE, checkpoint_path, read_run_config

pytestmark = pytest.mark.workflow

RUNS = {
    # run: (checkpoints, head labels)
    "distance": ([2, 4], ["mito", "er"]),
    "affinities": ([2, 3], ["aff_1_0_0", "aff_0_1_0", "aff_0_0_1"]),
    "finetune": ([2], ["er", "mito", "nucleus"]),
}
BEST_KEYS = {"iteration", "parameters", "score", "higher_is_better", "dataset", "criterion"}
SCORE_DIMS = ("iterations", "datasets", "parameters", "criteria")


def store(workdir, *parts):
    return workdir.joinpath(STORE, *parts)


def best_records(workdir, run):
    """(dataset, criterion) -> record, for every criterion the run config selects."""
    config = read_run_config(workdir, run)
    datasets = [d["name"] for d in config["datasplit_config"]["validate_configs"]]
    return {
        (dataset, criterion): json.loads(
            store(workdir, run, dataset, f"{criterion}.json").read_text()
        )
        for dataset in datasets
        for criterion in config["select_criteria"]
    }


def load_scores(workdir, run):
    return xr.load_dataarray(store(workdir, run, "validation_scores.nc"), engine="h5netcdf")


@pytest.mark.parametrize("run", list(RUNS))
def test_store_layout(completed_workflow, run):
    iterations, _ = RUNS[run]
    checkpoints = store(completed_workflow, run, "checkpoints", "iterations")
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(str(i) for i in iterations)

    records = best_records(completed_workflow, run)
    for (dataset, criterion), record in records.items():
        assert BEST_KEYS <= set(record), record
        assert (record["dataset"], record["criterion"]) == (dataset, criterion)
        assert record["iteration"] in iterations

    stats = xr.load_dataset(store(completed_workflow, run, "training_stats.nc"), engine="h5netcdf")
    steps = read_run_config(completed_workflow, run)["num_iterations"]
    assert stats["iterations"].values.tolist() == list(range(steps))  # 0-based optimizer steps
    assert np.isfinite(stats["loss"].values).all()

    scores = load_scores(completed_workflow, run)
    assert scores.dims == SCORE_DIMS
    assert scores["iterations"].values.tolist() == iterations
    assert scores["datasets"].values.tolist() == ["validate_0"]
    assert {criterion for _, criterion in records} <= set(scores["criteria"].values.tolist())

    # Validation predictions are scratch: nothing of them is left behind.
    scratch = store(completed_workflow, run, "tmp")
    assert not scratch.exists() or not any(scratch.rglob("*.npy"))


def parameter_index(scores, parameters):
    """Index along `parameters` of the best record's parameter dict."""
    grid = json.loads(scores.attrs["parameters_json"])
    matches = [i for i, candidate in enumerate(grid) if candidate == parameters]
    assert len(matches) == 1, (parameters, grid)
    return matches[0]


@pytest.mark.parametrize("run", list(RUNS))
def test_best_json_agrees_with_the_collected_scores(completed_workflow, run):
    scores = load_scores(completed_workflow, run)
    for (dataset, criterion), record in best_records(completed_workflow, run).items():
        table = scores.sel(datasets=dataset, criteria=criterion)  # iterations x parameters
        higher = bool(table["higher_is_better"])
        assert record["higher_is_better"] is higher, (criterion, record)
        values = table.values
        best = np.nanmax(values) if higher else np.nanmin(values)
        assert record["score"] == pytest.approx(best), (criterion, values, record)
        # The recorded (iteration, parameters) is where that score was reached.
        at = table.sel(iterations=record["iteration"]).values[
            parameter_index(scores, record["parameters"])
        ]
        assert at == pytest.approx(record["score"]), (criterion, record)


def test_best_json_uses_the_direction_of_each_criterion(completed_workflow):
    # voi is lower-is-better; the tiny affinities run scores it differently per threshold.
    (record,) = best_records(completed_workflow, "affinities").values()
    scores = load_scores(completed_workflow, "affinities").sel(criteria="voi").values
    assert record["higher_is_better"] is False
    assert record["score"] == pytest.approx(np.nanmin(scores))


@pytest.mark.parametrize("run", list(RUNS))
def test_every_checkpoint_loads_with_weights_only(completed_workflow, run):
    iterations, head_labels = RUNS[run]
    for iteration in iterations:
        checkpoint = torch.load(
            checkpoint_path(completed_workflow, run, iteration), weights_only=True
        )
        assert checkpoint["iteration"] == iteration
        assert checkpoint["head_labels"] == head_labels
        assert checkpoint["model"] and checkpoint["optimizer"]["state"]
        assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())


def test_finetune_starts_from_the_upstream_best_with_heads_matched(completed_workflow, monkeypatch):
    from dacapo_flow.config.loading import load_run_config
    from dacapo_flow.run import Run
    from dacapo_flow.start import HEAD_KEYS
    from dacapo_flow.store.weights_store import LocalWeightsStore

    best = json.loads(
        store(completed_workflow, "distance", "validate_0", "mito__dice.json").read_text()
    )
    log = store(completed_workflow, "finetune", "logs", "train_chunk", "2.log").read_text()
    winner = f"{STORE}/distance/validate_0/mito__dice.pt"
    assert f"starter weights {winner} (iteration {best['iteration']})" in log, log

    # The finetune's iteration-0 state, built by the library exactly as its first chunk does.
    monkeypatch.chdir(completed_workflow)
    run = Run(load_run_config("config/runs/finetune.yaml"), LocalWeightsStore(STORE))
    run.start.initialize_weights(run.model, new_head=run.head_labels)
    start = run.model.state_dict()
    upstream = torch.load(
        checkpoint_path(completed_workflow, "distance", best["iteration"]), weights_only=True
    )
    old_head, new_head = upstream["head_labels"], run.head_labels
    assert (old_head, new_head) == (["mito", "er"], ["er", "mito", "nucleus"])
    heads = [key for key in HEAD_KEYS if key in start]
    assert heads
    for key, tensor in upstream["model"].items():
        if key in HEAD_KEYS:
            continue
        assert torch.equal(start[key], tensor), key
    for key in heads:
        for label in ("mito", "er"):
            assert torch.equal(
                start[key][new_head.index(label)], upstream["model"][key][old_head.index(label)]
            ), (key, label)
