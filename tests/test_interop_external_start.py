import json
import shutil
from pathlib import Path

import pytest
import torch
from pydantic import TypeAdapter, ValidationError

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.config.starts import (
    AnyExternalStartConfig,
    CheckpointStartConfig,
    DaCapoRunStartConfig,
)
from dacapo_flow.config.tasks import DistanceTaskConfig
from dacapo_flow.factory import create_architecture, create_task
from dacapo_flow.interop.dacapo_checkpoint import read_model_weights
from dacapo_flow.interop.dacapo_store import (
    ExternalStartError,
    dacapo_best_checkpoint,
    resolve_external_start,
)
from dacapo_flow.interop.external_start import initialize_from_checkpoint
from dacapo_flow.start import StartError

PARITY_STORE = Path(__file__).resolve().parents[2] / "shared/reference/dacapo-parity/store"
RUN = "peer_bench_stock2"
pytestmark = pytest.mark.skipif(not PARITY_STORE.exists(), reason="DaCapo parity sample absent")


@pytest.fixture
def store(tmp_path):
    """A writable copy of the parity DaCapo store."""
    return Path(shutil.copytree(PARITY_STORE, tmp_path / "dacapo"))


def parity_model(channels):
    arch = CNNectomeUNetConfig(
        input_shape=[76] * 3,
        fmaps_out=12,
        num_fmaps=12,
        fmap_inc_factor=2,
        downsample_factors=[[2, 2, 2]] * 2,
    )
    task = create_task(
        DistanceTaskConfig(channels=channels), {c: [i + 1] for i, c in enumerate(channels)}
    )
    torch.manual_seed(0)
    return task.create_model(create_architecture(arch))


def test_the_two_forms_parse_as_one_union_and_check_their_fields():
    adapter = TypeAdapter(AnyExternalStartConfig)
    assert isinstance(
        adapter.validate_python({"runs_base_dir": "/d", "run": "r", "iteration": 5}),
        DaCapoRunStartConfig,
    )
    assert isinstance(
        adapter.validate_python({"checkpoint": "/m.pt", "head_labels": ["a"]}),
        CheckpointStartConfig,
    )
    with pytest.raises(ValidationError):
        adapter.validate_python({"checkpoint": "/m.pt", "run": "r"})
    both = DaCapoRunStartConfig(runs_base_dir="/d", run="r", iteration=5, criterion="c")
    assert "exactly one of iteration and criterion" in both.verify()[1]


def test_dacapo_run_and_iteration_resolve_to_its_file_and_task_channels():
    resolved = resolve_external_start(
        DaCapoRunStartConfig(runs_base_dir=PARITY_STORE, run=RUN, iteration=100)
    )
    assert resolved.checkpoint == PARITY_STORE / RUN / "checkpoints/iterations/100"
    assert resolved.head_labels == ["fg"]


@pytest.mark.parametrize("layout", ["written", "read"])
def test_best_record_in_either_of_dacapos_layouts_is_found(store, layout):
    checkpoints = store / RUN / "checkpoints"
    record = checkpoints / (
        "validate/fg__f1_score.json" if layout == "written" else "fg__f1_score/validate.json"
    )
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"iteration": 100}))
    for dataset in ("validate", None):
        assert (
            dacapo_best_checkpoint(store, RUN, "fg__f1_score", dataset)
            == checkpoints / "iterations/100"
        )


def test_disagreeing_or_missing_best_records_are_errors(store):
    checkpoints = store / RUN / "checkpoints"
    for path, iteration in (("validate/voi.json", 100), ("voi/validate.json", 200)):
        (checkpoints / path).parent.mkdir(parents=True, exist_ok=True)
        (checkpoints / path).write_text(json.dumps({"iteration": iteration}))
    with pytest.raises(ExternalStartError, match="disagree"):
        dacapo_best_checkpoint(store, RUN, "voi")
    with pytest.raises(
        ExternalStartError, match="no DaCapo best record for criterion 'dice'.*validate/voi.json"
    ):
        dacapo_best_checkpoint(store, RUN, "dice")


def test_checkpoint_form_resolves_to_the_file_and_a_missing_file_is_an_error(tmp_path):
    path = tmp_path / "model.pt"
    with pytest.raises(ExternalStartError, match=str(path)):
        resolve_external_start(CheckpointStartConfig(checkpoint=path))
    torch.save({"a": torch.zeros(1)}, path)
    assert resolve_external_start(
        CheckpointStartConfig(checkpoint=path, head_labels=["x"])
    ).head_labels == ["x"]


def test_same_head_loads_everything_strictly():
    resolved = resolve_external_start(
        DaCapoRunStartConfig(runs_base_dir=PARITY_STORE, run=RUN, iteration=100)
    )
    model = initialize_from_checkpoint(parity_model(["fg"]), resolved, ["fg"])
    expected = read_model_weights(resolved.checkpoint).model
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[key]), key


def test_new_head_gets_the_matching_label_row_and_keeps_fresh_ones():
    resolved = resolve_external_start(
        DaCapoRunStartConfig(runs_base_dir=PARITY_STORE, run=RUN, iteration=100)
    )
    fresh = parity_model(["mito", "fg"])
    fresh_mito = fresh.prediction_head.weight[0].clone()
    model = initialize_from_checkpoint(fresh, resolved, ["mito", "fg"])
    expected = read_model_weights(resolved.checkpoint).model
    assert torch.equal(model.prediction_head.weight[1], expected["prediction_head.weight"][0])
    assert torch.equal(model.prediction_head.weight[0], fresh_mito)
    assert torch.equal(
        model.chain[0].unet.l_conv[0].conv_pass[0].weight,
        expected["architecture.unet.l_conv.0.conv_pass.0.weight"],
    )


def test_unknown_head_labels_and_another_channel_count_is_an_error(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(parity_model(["fg"]).state_dict(), path)
    resolved = resolve_external_start(CheckpointStartConfig(checkpoint=path))
    with pytest.raises(StartError, match="records no head labels.*prediction_head.weight"):
        initialize_from_checkpoint(parity_model(["a", "b"]), resolved, ["a", "b"])
