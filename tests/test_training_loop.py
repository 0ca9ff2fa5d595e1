"""The trainer's GPU knobs on the CPU: the float32 default is the plain step, bit for bit;
bfloat16/float16 autocast and channels-last train; float16 keeps its gradient scaler across
chunks."""

import os

import pytest
import torch

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.run import Run
from dacapo_flow.training import build_sampler
from dacapo_flow.training_loop import Stepper
from helpers_tiny import assert_same_state, run_config_dict, train_to

pytestmark = pytest.mark.usefixtures("one_thread")


def config(data, interval=4, **trainer) -> RunConfig:
    return RunConfig.model_validate(
        run_config_dict(
            data, num_iterations=4, validation_interval=interval, trainer_config=trainer
        )
    )


def plain_step(run, batch):
    """The training step as it was before the knobs existed."""
    raw, target, weight = (torch.as_tensor(batch[k]) for k in ("raw", "target", "weight"))
    run.optimizer.zero_grad(set_to_none=True)
    loss = run.task.loss(run.model(raw), target, weight)
    loss.backward()
    run.optimizer.step()
    run.lr_scheduler.step()
    return loss.item()


def test_the_default_step_is_the_plain_float32_step(data):
    torch.manual_seed(0)
    ours = Run(config(data))
    torch.manual_seed(0)
    plain = Run(config(data))
    sampler = build_sampler(ours)
    stepper = Stepper(ours, torch.device("cpu"))
    for iteration in range(3):
        batch = sampler.sample(iteration)
        assert stepper.step(batch) == plain_step(plain, batch)
    assert_same_state(ours.model.state_dict(), plain.model.state_dict(), "model")
    assert_same_state(ours.optimizer.state_dict(), plain.optimizer.state_dict(), "optimizer")


def trained(data, tmp_path, **trainer) -> dict:
    path = train_to(config(data, **trainer), tmp_path, 4)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    "knobs", [{"precision": "bfloat16"}, {"channels_last": True}, {"precision": "float16"}]
)
def test_a_chunk_trains_with_each_knob(data, tmp_path, knobs):
    saved = trained(data, tmp_path / "knob", **knobs)
    initial = Run(config(data, **knobs)).model.state_dict()
    assert set(saved["model"]) == set(initial)
    assert all(torch.isfinite(t).all() for t in saved["model"].values())
    assert any(not torch.equal(initial[k], saved["model"][k]) for k in initial)


def test_float16_keeps_its_gradient_scaler_across_chunks(data, tmp_path):
    whole = trained(data, tmp_path / "whole", precision="float16")
    assert "grad_scaler" in whole["sampler"]
    chunked = config(data, interval=2, precision="float16")
    first = train_to(chunked, tmp_path / "chunks", 2)
    second = torch.load(
        train_to(chunked, tmp_path / "chunks", 4, previous=first), weights_only=True
    )
    for part in ("model", "optimizer", "sampler"):
        assert_same_state(whole[part], second[part], part)


def test_bfloat16_chunks_are_bit_exact_on_the_cpu(data, tmp_path):
    whole = trained(data, tmp_path / "whole", precision="bfloat16")
    chunked = config(data, interval=2, precision="bfloat16")
    first = train_to(chunked, tmp_path / "chunks", 2)
    second = torch.load(
        train_to(chunked, tmp_path / "chunks", 4, previous=first), weights_only=True
    )
    assert_same_state(whole["model"], second["model"], "model")


@pytest.mark.skipif(
    not os.environ.get("DACAPO_FLOW_TEST_COMPILE"),
    reason="torch.compile builds C++ kernels for a minute on the CPU; "
    "set DACAPO_FLOW_TEST_COMPILE=1 to run",
)
def test_a_compiled_chunk_trains_and_keeps_plain_state_dict_keys(data, tmp_path):
    saved = trained(data, tmp_path, compile=True)
    assert set(saved["model"]) == set(Run(config(data)).model.state_dict())
