import pickle
import sys
import types

import numpy as np
import pytest
import torch

from dacapo_flow.store.rng_state import capture_rng_states
from dacapo_flow.store.weights import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    Weights,
    load_checkpoint,
    save_checkpoint,
    state_dict_mismatch,
)


def small_weights(**kwargs):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return Weights(model.state_dict(), optimizer.state_dict(), **kwargs)


def test_checkpoint_round_trip_and_weights_only_load(tmp_path):
    weights = small_weights(
        scheduler={"last_epoch": 3, "_last_lr": [0.1]},
        rng=capture_rng_states(),
        sampler={"epoch": 2, "seed": np.int64(7)},
        iteration=30,
        config_hash="abc123",
        head_labels=["mito", "er"],
    )
    path = save_checkpoint(weights, tmp_path / "30")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["version"] == 1
    assert set(raw) == {
        "format",
        "version",
        "iteration",
        "model",
        "optimizer",
        "scheduler",
        "rng",
        "sampler",
        "config_hash",
        "head_labels",
    }
    assert raw["sampler"] == {"epoch": 2, "seed": 7}
    back = load_checkpoint(path)
    assert back.iteration == 30 and back.config_hash == "abc123"
    assert back.head_labels == ["mito", "er"]
    assert back.scheduler == {"last_epoch": 3, "_last_lr": [0.1]}
    for key, tensor in weights.model.items():
        assert torch.equal(back.model[key], tensor)
    assert back.optimizer["param_groups"] == weights.optimizer["param_groups"]
    assert torch.equal(
        back.optimizer["state"][0]["exp_avg"], weights.optimizer["state"][0]["exp_avg"]
    )


def test_state_dict_metadata_survives_so_module_versions_load(tmp_path):
    model = torch.nn.BatchNorm1d(2)
    path = save_checkpoint(Weights(model.state_dict(), None), tmp_path / "0")
    loaded = load_checkpoint(path).model
    assert loaded._metadata[""]["version"] == model.state_dict()._metadata[""]["version"]


def test_non_plain_content_is_refused_naming_the_key(tmp_path):
    weights = small_weights(sampler={"generator": object()})
    with pytest.raises(CheckpointError, match=r"sampler.*generator.*object"):
        save_checkpoint(weights, tmp_path / "1")
    assert not (tmp_path / "1").exists()


def test_legacy_dacapo_dict_still_reads(tmp_path):
    weights = small_weights()
    torch.save({"model": weights.model, "optimizer": weights.optimizer}, tmp_path / "1000")
    back = load_checkpoint(tmp_path / "1000")
    assert set(back.model) == set(weights.model)
    assert back.optimizer is not None
    assert back.scheduler is None and back.rng is None and back.iteration is None
    assert back.head_labels is None and back.config_hash is None


def test_dacapo_pickled_weights_object_reads_without_unpickling_its_class(tmp_path, monkeypatch):
    # DaCapo 0.3.5 saved a pickled dacapo.store.weights_store.Weights; fake that class to write one.
    module = types.ModuleType("dacapo.store.weights_store")

    class DaCapoWeights:
        def __init__(self, model, optimizer):
            self.model, self.optimizer = model, optimizer

    DaCapoWeights.__module__, DaCapoWeights.__qualname__ = module.__name__, "Weights"
    module.Weights = DaCapoWeights
    for name in ("dacapo", "dacapo.store", "dacapo.store.weights_store"):
        monkeypatch.setitem(sys.modules, name, module)
    weights = small_weights()
    torch.save(DaCapoWeights(weights.model, weights.optimizer), tmp_path / "500")
    for name in ("dacapo", "dacapo.store", "dacapo.store.weights_store"):
        monkeypatch.delitem(sys.modules, name)
    back = load_checkpoint(tmp_path / "500")
    assert set(back.model) == set(weights.model)
    assert back.optimizer["param_groups"] == weights.optimizer["param_groups"]


class Custom:
    def __init__(self):
        self.model = {}


def test_pickled_object_file_is_refused_naming_file_and_class(tmp_path):
    path = tmp_path / "evil"
    torch.save(Custom(), path)
    with pytest.raises(CheckpointError, match=rf"{path}.*Custom"):
        load_checkpoint(path)


def test_half_truncated_checkpoint_is_refused_naming_the_file(tmp_path):
    path = save_checkpoint(small_weights(iteration=5), tmp_path / "5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize(
    "content", [b"", b"hello, not a checkpoint", pickle.dumps({"model": {}}, protocol=4)]
)
def test_non_torch_files_are_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "junk"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_dict_without_model_is_refused(tmp_path):
    torch.save({"optimizer": {}}, tmp_path / "x")
    with pytest.raises(CheckpointError, match=rf"{tmp_path / 'x'}.*no model"):
        load_checkpoint(tmp_path / "x")


def test_newer_format_version_is_refused(tmp_path):
    torch.save({"format": CHECKPOINT_FORMAT, "version": 99, "model": {}}, tmp_path / "v")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "v")


def test_missing_checkpoint_is_file_not_found_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        load_checkpoint(tmp_path / "nope")


def test_state_dict_mismatch_lists_missing_unexpected_and_shapes():
    expected = {"a": torch.zeros(2), "b": torch.zeros(3), "head": torch.zeros(1)}
    found = {"a": torch.zeros(4), "c": torch.zeros(1), "head": torch.zeros(9)}
    problems = " ".join(state_dict_mismatch(expected, found, ignore={"head"}))
    assert "missing in checkpoint: ['b']" in problems
    assert "not in model: ['c']" in problems
    assert "shape of a: model (2,), checkpoint (4,)" in problems
    assert "head" not in problems
    assert state_dict_mismatch(expected, dict(expected)) == []
