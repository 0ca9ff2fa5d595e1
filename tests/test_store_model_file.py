"""The model file beside each checkpoint, and the winning-weights copy selection makes of it
without torch (falling back to torch for checkpoints without one)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dacapo_flow.layout import Layout, checkpoint_model_file
from dacapo_flow.store.model_file import (
    ModelInfo,
    copy_model_file,
    copy_winning_weights,
    model_record_path,
    save_model_file,
)
from dacapo_flow.store.weights import Weights, load_checkpoint, save_checkpoint

LAYOUT = Layout("store")


def full_weights(iteration=4):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return Weights(
        model.state_dict(),
        optimizer.state_dict(),
        iteration=iteration,
        config_hash="abc",
        head_labels=["mito"],
    )


def write_checkpoint(tmp_path, iteration=4, model_file=True) -> tuple[Path, Weights]:
    """A checkpoint in a store's layout, with its model file as a training chunk writes it."""
    weights = full_weights(iteration)
    checkpoint = Path(Layout(tmp_path / "store").checkpoint("run", iteration))
    save_checkpoint(weights, checkpoint)
    if model_file:
        save_model_file(weights, checkpoint)
    return checkpoint, weights


def assert_model_part(path, weights):
    copied = load_checkpoint(path)
    assert copied.optimizer is None and copied.iteration == weights.iteration
    assert (copied.config_hash, copied.head_labels) == (weights.config_hash, weights.head_labels)
    assert all(torch.equal(copied.model[k], v) for k, v in weights.model.items())


def test_the_model_file_lives_beside_the_iterations_directory():
    checkpoint = LAYOUT.checkpoint("run", 100)
    assert checkpoint_model_file(checkpoint) == LAYOUT.checkpoint_model("run", 100)
    assert LAYOUT.checkpoint_model("run", 100) == "store/run/checkpoints/model/100.pt"
    assert checkpoint_model_file("somewhere/100") is None
    assert checkpoint_model_file(LAYOUT.best_weights("run", "validate_0", "x")) is None


def test_the_copy_is_the_model_part_of_the_checkpoint(tmp_path):
    checkpoint, weights = write_checkpoint(tmp_path)
    model_file = Path(checkpoint_model_file(checkpoint))
    record = json.loads(model_record_path(model_file).read_text())
    assert record["iteration"] == 4 and record["config_hash"] == "abc"
    info = copy_model_file(checkpoint, tmp_path / "best.pt")
    assert info == ModelInfo(4, "abc", ["mito"])
    assert (tmp_path / "best.pt").read_bytes() == model_file.read_bytes()
    assert_model_part(tmp_path / "best.pt", weights)


def test_selection_copies_without_importing_torch(tmp_path):
    checkpoint, _ = write_checkpoint(tmp_path)
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from dacapo_flow.store.model_file import copy_winning_weights\n"
        f"print(copy_winning_weights({str(checkpoint)!r}, {str(tmp_path / 'best.pt')!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "config_hash='abc'" in result.stdout


@pytest.mark.parametrize("case", ["no model file", "checkpoint rewritten", "bytes changed"])
def test_without_a_trustworthy_model_file_the_checkpoint_is_read_with_torch(tmp_path, case):
    checkpoint, weights = write_checkpoint(tmp_path, model_file=case != "no model file")
    model_file = Path(Layout(tmp_path / "store").checkpoint_model("run", 4))
    if case == "checkpoint rewritten":  # e.g. by an older dacapo-flow, after the model file
        weights = full_weights(4)
        save_checkpoint(weights, checkpoint)
    if case == "bytes changed":
        model_file.write_bytes(model_file.read_bytes() + b"\0")
    out = tmp_path / "best.pt"
    assert copy_model_file(checkpoint, out) is None
    assert not out.exists()  # nothing half-copied
    assert copy_winning_weights(checkpoint, out) == ModelInfo(4, "abc", ["mito"])
    assert_model_part(out, weights)


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoints/iterations/7 does not exist"):
        copy_model_file(LAYOUT.checkpoint("run", 7), tmp_path / "best.pt")
