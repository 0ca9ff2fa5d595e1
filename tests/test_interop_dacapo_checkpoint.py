import os
from pathlib import Path

import pytest
import torch
from torch import nn

from dacapo_flow.interop.dacapo_checkpoint import complete_model_keys, read_model_weights
from dacapo_flow.store.weights import CheckpointError, Weights, save_checkpoint

PARITY = Path(__file__).resolve().parents[2] / "shared/reference/dacapo-parity"
PARITY_CHECKPOINT = PARITY / "store/peer_bench_stock2/checkpoints/iterations/100"
needs_parity = pytest.mark.skipif(
    not PARITY_CHECKPOINT.exists(), reason=f"DaCapo parity sample {PARITY} not present"
)


class TinyModel(nn.Module):
    """DaCapo-shaped: body and head registered twice, like dacapo-flow's Model."""

    def __init__(self):
        super().__init__()
        self.architecture = nn.Conv3d(1, 2, 3)
        self.prediction_head = nn.Conv3d(2, 1, 1)
        self.chain = nn.Sequential(self.architecture, self.prediction_head)


@needs_parity
def test_real_dacapo_0_3_5_checkpoint_loads():
    weights = read_model_weights(PARITY_CHECKPOINT)
    assert "architecture.unet.l_conv.0.conv_pass.0.weight" in weights.model
    assert torch.equal(weights.model["prediction_head.weight"], weights.model["chain.1.weight"])
    assert set(weights.optimizer) == {"state", "param_groups"}


def test_dacapo_dict_plain_state_dict_and_chain_checkpoints_load(tmp_path):
    model = TinyModel()
    expected = model.state_dict()
    torch.save({"model": expected, "optimizer": {"state": {}}}, tmp_path / "dict")
    torch.save(expected, tmp_path / "plain")
    torch.save({"model": model.chain.state_dict()}, tmp_path / "chain")  # PretrainedTask form
    body_head = {k: v for k, v in expected.items() if not k.startswith("chain.")}
    torch.save(body_head, tmp_path / "no_chain_names")
    for name in ("dict", "plain", "chain", "no_chain_names"):
        fresh = TinyModel()
        fresh.load_state_dict(read_model_weights(tmp_path / name).model)  # strict
        for key, tensor in expected.items():
            assert torch.equal(fresh.state_dict()[key], tensor), (name, key)


def test_dacapo_flow_checkpoint_keeps_its_head_labels(tmp_path):
    model = TinyModel()
    path = save_checkpoint(Weights(model.state_dict(), None, head_labels=["fg"]), tmp_path / "5")
    assert read_model_weights(path).head_labels == ["fg"]


class Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_checkpoint_with_a_code_payload_is_refused_and_never_runs(tmp_path):
    victim = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": TinyModel().state_dict(), "extra": Payload(victim)}, path)
    with pytest.raises(CheckpointError, match=rf"{path}.*global posix\.system.*not allow-listed"):
        read_model_weights(path)
    assert not victim.exists()


def test_unrecognised_content_is_refused_naming_the_file(tmp_path):
    torch.save({"weights": [1, 2]}, tmp_path / "odd")
    with pytest.raises(CheckpointError, match=rf"{tmp_path / 'odd'}.*neither a state dict"):
        read_model_weights(tmp_path / "odd")


def test_complete_model_keys_adds_both_names_once():
    t = torch.zeros(1)
    full = complete_model_keys({"0.w": t, "1.b": t, "other": t})
    assert set(full) == {"chain.0.w", "architecture.w", "chain.1.b", "prediction_head.b", "other"}
