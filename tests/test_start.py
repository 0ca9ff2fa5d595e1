import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dacapo_flow.start import Start, StartError, match_heads
from dacapo_flow.store.model_file import copy_model_weights
from dacapo_flow.store.weights_store import LocalWeightsStore


class TinyModel(nn.Module):
    """DaCapo-shaped: the head is registered as `prediction_head` and as `chain[1]`."""

    def __init__(self, out_channels, hidden=3, with_chain=True):
        super().__init__()
        self.architecture = nn.Sequential(nn.Conv3d(1, hidden, 3), nn.ReLU())
        self.prediction_head = nn.Conv3d(hidden, out_channels, 1)
        if with_chain:
            self.chain = nn.Sequential(self.architecture, self.prediction_head)


def starter_store(tmp_path, labels=("mito", "er", "nucleus"), hidden=3, iteration=100):
    """A store holding run "upstream" with a checkpoint at `iteration` whose head has `labels`
    (None: a 3-channel head whose labels the checkpoint does not record)."""
    torch.manual_seed(0)
    model = TinyModel(len(labels) if labels else 3, hidden=hidden)
    run = SimpleNamespace(
        name="upstream",
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        head_labels=list(labels) if labels else None,
    )
    store = LocalWeightsStore(tmp_path)
    store.store_weights(run, iteration)
    return store, model


def config(criterion="100", dataset=None, run="upstream"):
    return SimpleNamespace(run=run, criterion=criterion, dataset=dataset)


def assert_body_equal(model, starter):
    for key, tensor in starter.architecture.state_dict().items():
        assert torch.equal(model.architecture.state_dict()[key], tensor), key


def test_match_heads_copies_rows_by_label_and_keeps_fresh_ones(caplog):
    torch.manual_seed(1)
    old = TinyModel(3)
    new = TinyModel(3)
    fresh_row = new.prediction_head.weight[2].detach().clone()
    head_weights = {k: v for k, v in old.state_dict().items() if k.startswith("prediction_head")}
    with caplog.at_level(logging.INFO, logger="dacapo_flow.start"):
        returned = match_heads(
            new, head_weights, ["mito", "er", "nucleus"], ["er", "mito", "golgi"]
        )
    assert returned is new  # DaCapo returned None
    assert torch.equal(new.prediction_head.weight[0], old.prediction_head.weight[1])  # er
    assert torch.equal(new.prediction_head.weight[1], old.prediction_head.weight[0])  # mito
    assert torch.equal(new.prediction_head.bias[1], old.prediction_head.bias[0])
    assert torch.equal(new.prediction_head.weight[2], fresh_row)  # golgi: fresh init
    assert torch.equal(new.chain[1].weight, new.prediction_head.weight)  # one tensor, two names
    assert "golgi" in caplog.text


def test_match_heads_with_a_model_without_chain_and_a_chain_only_checkpoint():
    old, new = TinyModel(2), TinyModel(2, with_chain=False)
    head_weights = {
        "chain.1.weight": old.prediction_head.weight,
        "chain.1.bias": old.prediction_head.bias,
    }
    match_heads(new, head_weights, ["a", "b"], ["b", "a"])
    assert torch.equal(new.prediction_head.weight[0], old.prediction_head.weight[1])


def test_match_heads_without_shared_label_is_an_error():
    old, new = TinyModel(2), TinyModel(2)
    with pytest.raises(StartError, match="share no label"):
        match_heads(new, old.state_dict(), ["a", "b"], ["c", "d"])


def test_match_heads_checks_row_count_against_labels():
    old, new = TinyModel(2), TinyModel(3)
    with pytest.raises(StartError, match="2 output channels"):
        match_heads(new, old.state_dict(), ["a", "b", "c"], ["a", "b", "c"])


def test_start_from_iteration_loads_all_weights_strictly(tmp_path):
    store, starter = starter_store(tmp_path)
    torch.manual_seed(9)
    model = TinyModel(3)
    returned = Start(config("100"), store).initialize_weights(model, ["mito", "er", "nucleus"])
    assert returned is model
    for key, tensor in starter.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key


def test_start_with_different_head_loads_body_and_matches_labels(tmp_path):
    store, starter = starter_store(tmp_path)
    model = TinyModel(2)
    Start(config("100"), store).initialize_weights(model, ["nucleus", "golgi"])
    assert_body_equal(model, starter)
    assert torch.equal(model.prediction_head.weight[0], starter.prediction_head.weight[2])
    assert not torch.equal(model.prediction_head.weight[1], starter.prediction_head.weight[0])


def test_start_with_reordered_head_matches_labels(tmp_path):
    store, starter = starter_store(tmp_path, labels=("a", "b"))
    model = TinyModel(2)
    Start(config("100"), store).initialize_weights(model, ["b", "a"])
    assert torch.equal(model.prediction_head.weight[0], starter.prediction_head.weight[1])
    assert torch.equal(model.prediction_head.bias[1], starter.prediction_head.bias[0])


def test_body_shape_mismatch_is_an_error_not_a_random_start(tmp_path):
    # DaCapo logged "ERROR starter" and trained from a randomly initialised model.
    store, _ = starter_store(tmp_path, hidden=3)
    model = TinyModel(2, hidden=4)
    with pytest.raises(
        StartError, match=r"iterations/100.*architecture\.0\.weight.*\(4, 1, 3, 3, 3\)"
    ):
        Start(config("100"), store).initialize_weights(model, ["mito", "golgi"])


def test_unexpected_and_missing_keys_are_errors(tmp_path):
    store, _ = starter_store(tmp_path)
    model = TinyModel(3, with_chain=False)  # checkpoint has chain.* keys the model lacks
    with pytest.raises(StartError, match=r"not in model.*chain\.0\.0\.weight"):
        Start(config("100"), store).initialize_weights(model, ["mito", "er", "nucleus"])


def test_unknown_starter_head_with_other_channel_count_is_an_error(tmp_path):
    store, _ = starter_store(tmp_path, labels=None)
    with pytest.raises(StartError, match="records no head labels"):
        Start(config("100"), store).initialize_weights(TinyModel(2), ["mito", "er"])


def test_start_from_legacy_dacapo_checkpoint(tmp_path):
    torch.manual_seed(3)
    starter = TinyModel(2)
    path = tmp_path / "cosem" / "checkpoints" / "iterations" / "1820500"
    path.parent.mkdir(parents=True)
    torch.save({"model": starter.state_dict(), "optimizer": {}}, path)  # DaCapo's plain dict
    model = TinyModel(2)
    Start({"run": "cosem", "criterion": "1820500"}, LocalWeightsStore(tmp_path)).initialize_weights(
        model
    )
    assert torch.equal(model.prediction_head.weight, starter.prediction_head.weight)


def store_best_weights(store, iteration, dataset, criterion):
    """What select-best writes: the record and a copy of the winning weights."""
    copy_model_weights(
        store.checkpoint_path("upstream", iteration),
        store.best_weights_path("upstream", dataset, criterion),
    )
    store.store_best("upstream", iteration, dataset, criterion, score=0.5, higher_is_better=True)


def test_start_from_the_best_weights_of_a_named_dataset(tmp_path):
    store, _ = starter_store(tmp_path, iteration=100)
    torch.manual_seed(4)
    other = TinyModel(3)
    run = SimpleNamespace(
        name="upstream", model=other, optimizer=None, head_labels=["mito", "er", "nucleus"]
    )
    store.store_weights(run, 200)
    store_best_weights(store, 200, "crop_a", "f1_score")
    store_best_weights(store, 100, "crop_b", "f1_score")
    store.remove("upstream", 200)  # the best weights are a copy: the checkpoint may go
    model = TinyModel(3)
    Start(config("f1_score", dataset="crop_a"), store).initialize_weights(model)
    assert torch.equal(model.prediction_head.weight, other.prediction_head.weight)
    path = Start(config("f1_score", dataset="crop_b"), store).starter_path()
    assert path == store.best_weights_path("upstream", "crop_b", "f1_score")


def test_start_without_dataset_needs_exactly_one_best_record(tmp_path):
    store, _ = starter_store(tmp_path)
    with pytest.raises(StartError, match=r"found 0 best records"):
        Start(config("voi"), store).starter_path()
    store_best_weights(store, 100, "crop_a", "voi")
    assert Start(config("voi"), store).starter_path().parent.name == "crop_a"
    store_best_weights(store, 100, "crop_b", "voi")
    with pytest.raises(StartError, match=r"found 2.*crop_a/voi.json.*crop_b/voi.json"):
        Start(config("voi"), store).starter_path()


def test_default_store_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DACAPO_FLOW_STORE", str(tmp_path / "elsewhere"))
    start = Start(config("100"))
    assert start.weights_store.basedir == tmp_path / "elsewhere"


def test_start_config_needs_run_and_criterion():
    with pytest.raises(StartError, match="run and a criterion"):
        Start(SimpleNamespace(run="x", criterion=None), LocalWeightsStore("unused"))


# -- starts from a checkpoint file are checked before any job (issue 17 item 8) -------------


def checkpoint_of(data, path, labels, **architecture):
    """The weights of a tiny distance network (changed by `architecture`), saved with `labels`
    recorded as its head's (None: a plain state dict)."""
    from dacapo_flow.config.run_config import RunConfig
    from dacapo_flow.run import Run
    from dacapo_flow.store.weights import Weights, save_checkpoint
    from helpers_tiny import run_config_dict

    config = run_config_dict(data, "distance", architecture_config=architecture)
    model = Run(RunConfig.model_validate(config)).model
    if labels is None:
        torch.save(model.state_dict(), path)
    else:
        save_checkpoint(Weights(model.state_dict(), None, head_labels=labels), path)
    return path


def check_start(data, tmp_path, checkpoint, **start):
    """`load_plan` of a tiny distance run (head: nucleus, mito) starting from `checkpoint`;
    the error message, or "" when it passes."""
    from dacapo_flow.config.base import ConfigError
    from dacapo_flow.plan.runs import load_plan
    from helpers_tiny import run_config_dict, write_yaml

    changes = {"start_config": {"checkpoint": str(checkpoint), **start}}
    run = write_yaml(tmp_path / "run.yaml", run_config_dict(data, "distance", **changes))
    try:
        load_plan({"runs": [{"config": str(run)}]}, "config.yaml")
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"{run}: start_config"), message
        return message
    return ""


def test_a_checkpoint_start_that_fits_passes(data, tmp_path):
    same = checkpoint_of(data, tmp_path / "same.pt", ["nucleus", "mito"])
    assert check_start(data, tmp_path, same) == ""
    other_head = checkpoint_of(data, tmp_path / "other.pt", ["mito", "er"])
    assert check_start(data, tmp_path, other_head) == ""  # mito is shared
    plain = checkpoint_of(data, tmp_path / "plain.pt", None)
    assert check_start(data, tmp_path, plain) == ""


def test_a_file_that_is_not_a_torch_checkpoint_is_refused(data, tmp_path):
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    message = check_start(data, tmp_path, tmp_path / "notes.pt")
    assert "start_config.checkpoint: checkpoint" in message
    assert "is not a readable torch checkpoint" in message


def test_a_pickled_object_is_refused_without_running_it(data, tmp_path):
    torch.save({"model": TinyModel(2)}, tmp_path / "pickled.pt")  # a module, not a state dict
    message = check_start(data, tmp_path, tmp_path / "pickled.pt")
    assert "which is not allow-listed" in message


def test_a_checkpoint_of_another_network_is_refused(data, tmp_path):
    wider = checkpoint_of(data, tmp_path / "wide.pt", ["nucleus", "mito"], num_fmaps=8)
    message = check_start(data, tmp_path, wider)
    assert "start_config.checkpoint: checkpoint" in message and "does not fit the model" in message
    assert "shape of architecture." in message


def test_a_checkpoint_sharing_no_head_label_is_refused(data, tmp_path):
    foreign = checkpoint_of(data, tmp_path / "foreign.pt", ["er", "golgi"])
    message = check_start(data, tmp_path, foreign)
    assert "share no label" in message and "['er', 'golgi']" in message
    plain = checkpoint_of(data, tmp_path / "plain.pt", None)
    message = check_start(data, tmp_path, plain, head_labels=["er", "golgi"])
    assert "share no label" in message
