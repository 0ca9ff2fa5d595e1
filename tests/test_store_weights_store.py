import json
import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dacapo_flow.store.rng_state import restore_rng_states
from dacapo_flow.store.weights import CheckpointError
from dacapo_flow.store.weights_store import LocalWeightsStore


class TinyModel(nn.Module):
    """DaCapo-shaped: architecture + prediction_head, both also reachable through `chain`."""

    def __init__(self, out_channels=2, hidden=3):
        super().__init__()
        self.architecture = nn.Sequential(nn.Conv3d(1, hidden, 3), nn.BatchNorm3d(hidden))
        self.prediction_head = nn.Conv3d(hidden, out_channels, 1)
        self.chain = nn.Sequential(self.architecture, self.prediction_head)

    def forward(self, x):
        return self.chain(x)


def make_run(name="run_a", seed=0, hidden=3):
    torch.manual_seed(seed)
    model = TinyModel(hidden=hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=10)
    return SimpleNamespace(
        name=name,
        model=model,
        optimizer=optimizer,
        lr_scheduler=scheduler,
        head_labels=["mito", "er"],
        config_hash="hash-1",
        sampler_state={"draws": 3},
    )


def train_steps(run, steps):
    for _ in range(steps):
        x = torch.rand(2, 1, 5, 5, 5)  # data from the torch RNG, as a sampler would draw
        loss = run.model(x).square().mean()
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
        run.lr_scheduler.step()


def test_checkpoint_layout_and_weights_only_content(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    path = store.store_weights(run, 20)
    assert path == tmp_path / "run_a" / "checkpoints" / "iterations" / "20"
    raw = torch.load(path, weights_only=True)
    assert raw["iteration"] == 20
    assert raw["config_hash"] == "hash-1"
    assert raw["head_labels"] == ["mito", "er"]
    assert raw["sampler"] == {"draws": 3}
    assert raw["scheduler"]["last_epoch"] == 0
    assert set(raw["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert "prediction_head.weight" in raw["model"] and "chain.1.weight" in raw["model"]
    assert os.listdir(path.parent) == ["20"]


def test_resume_continues_bit_for_bit_with_optimizer_scheduler_and_rng(tmp_path):
    # DaCapo 0.3.5 restored neither optimizer nor scheduler state on resume.
    store = LocalWeightsStore(tmp_path)
    first = make_run(seed=0)
    train_steps(first, 3)
    store.store_weights(first, 3)
    train_steps(first, 2)

    resumed = make_run(seed=123)  # a fresh process: different init, RNG elsewhere
    weights = store.load_weights(resumed, 3)
    restore_rng_states(weights.rng)
    assert weights.sampler == {"draws": 3}
    assert resumed.lr_scheduler.last_epoch == 3
    train_steps(resumed, 2)
    for (key, expected), actual in zip(
        first.model.state_dict().items(), resumed.model.state_dict().values()
    ):
        assert torch.equal(expected, actual), key
    assert resumed.optimizer.param_groups[0]["lr"] == first.optimizer.param_groups[0]["lr"]


def test_load_weights_is_strict_and_names_the_mismatch(tmp_path):
    store = LocalWeightsStore(tmp_path)
    store.store_weights(make_run(hidden=3), 5)
    with pytest.raises(CheckpointError, match=r"checkpoint 5 of run run_a.*shape of"):
        store.load_weights(make_run(hidden=4), 5)


def test_run_may_be_given_by_name_for_reading(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    store.store_weights(run, 7)
    assert store.retrieve_weights("run_a", 7).iteration == 7
    assert store.retrieve_weights(run, "7").iteration == 7


def test_latest_iteration(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    assert store.latest_iteration(run) is None
    for iteration in (9, 10, 2):
        store.store_weights(run, iteration)
    directory = tmp_path / "run_a" / "checkpoints" / "iterations"
    (directory / ".10.abc.tmp").write_bytes(b"partial")  # an interrupted write
    (directory / "notes.txt").write_text("x")
    (directory / "100.bak").write_text("x")
    assert store.latest_iteration(run) == 10  # numeric, not lexicographic; junk ignored
    assert store.latest_iteration("run_a") == 10


@pytest.mark.parametrize("iteration", [-1, "5", 1.5, True, None])
def test_store_weights_needs_a_non_negative_int(tmp_path, iteration):
    with pytest.raises((TypeError, ValueError)):
        LocalWeightsStore(tmp_path).store_weights(make_run(), iteration)


def test_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    store.store_weights(run, 10)
    real_save = torch.save

    def crash_mid_write(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("node pre-empted")

    monkeypatch.setattr(torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="pre-empted"):
        store.store_weights(run, 10)
    monkeypatch.setattr(torch, "save", real_save)
    assert store.retrieve_weights(run, 10).iteration == 10
    assert os.listdir(tmp_path / "run_a" / "checkpoints" / "iterations") == ["10"]


def test_remove(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    store.store_weights(run, 1)
    store.remove(run, 1)
    assert store.latest_iteration(run) is None
    with pytest.raises(FileNotFoundError, match="iterations/1"):
        store.remove(run, 1)


def test_best_record_is_read_from_the_path_it_is_written_to(tmp_path):
    # DaCapo wrote <dataset>/<criterion>.json but read <criterion>/<dataset>.json.
    store = LocalWeightsStore(tmp_path)
    path = store.store_best(
        "run_a",
        30,
        "val_crop",
        "f1_score",
        parameters={"threshold": 0.0},
        score=0.8,
        higher_is_better=True,
        stage="select_best",
    )
    assert path == tmp_path / "run_a" / "val_crop" / "f1_score.json"
    assert json.loads(path.read_text()) == {
        "iteration": 30,
        "parameters": {"threshold": 0.0},
        "score": 0.8,
        "higher_is_better": True,
        "dataset": "val_crop",
        "criterion": "f1_score",
        "config_hash": None,
        "head_labels": None,
        "checkpoint": None,
        "weights": None,
        "grid_edges": {},
        "stage": "select_best",
    }
    assert store.retrieve_best("run_a", "val_crop", "f1_score") == 30
    assert store.retrieve_best_record("run_a", "val_crop", "f1_score").parameters == {
        "threshold": 0.0
    }
    # The swapped reading of a same-named pair must not find it.
    with pytest.raises(FileNotFoundError):
        store.retrieve_best("run_a", "f1_score", "val_crop")


def test_best_accepts_objects_with_name(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run, dataset = SimpleNamespace(name="r"), SimpleNamespace(name="crop1")
    store.store_best(run, 4, dataset, "voi", score=0.1, higher_is_better=False)
    assert store.retrieve_best("r", "crop1", "voi") == 4
    assert store.best_paths("r", "voi") == [tmp_path / "r" / "crop1" / "voi.json"]


def test_missing_best_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "r" / "crop" / "voi.json")):
        LocalWeightsStore(tmp_path).retrieve_best("r", "crop", "voi")


def test_best_without_valid_iteration_is_refused_on_retrieval(tmp_path):
    store = LocalWeightsStore(tmp_path)
    store.store_best("r", None, "crop", "hausdorff", score=float("nan"), higher_is_better=False)
    assert store.retrieve_best_record("r", "crop", "hausdorff").score is None
    with pytest.raises(ValueError, match="no iteration"):
        store.retrieve_best("r", "crop", "hausdorff")


def test_load_best_loads_that_iteration(tmp_path):
    store = LocalWeightsStore(tmp_path)
    run = make_run()
    store.store_weights(run, 1)
    train_steps(run, 1)
    store.store_weights(run, 2)
    store.store_best(run, 1, "crop", "dice", score=0.9, higher_is_better=True)
    other = make_run(seed=5)
    assert store.load_best(other, "crop", "dice").iteration == 1
    expected = store.retrieve_weights(run, 1).model
    for key, tensor in other.model.state_dict().items():
        assert torch.equal(tensor, expected[key])


@pytest.mark.parametrize("bad", ["a/b", "..", ""])
def test_names_that_would_escape_the_store_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="file name"):
        LocalWeightsStore(tmp_path).store_best("r", 1, bad, "dice")
