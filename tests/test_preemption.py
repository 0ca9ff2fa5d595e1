"""Preemption-safe chunks: a stop signal mid-chunk saves an emergency state, the rerun of the
same chunk continues from it and ends bit-identical to an uninterrupted chunk."""

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.layout import Layout, emergency_state
from dacapo_flow.preemption import ChunkIdentity, save_emergency, take_emergency
from dacapo_flow.stats.training_stats import TrainingStats
from dacapo_flow.store.weights import Weights
from dacapo_flow.training import ChunkPreempted
from dacapo_flow.training_loop import Stepper
from helpers_tiny import (
    FULL_SHAPE,
    assert_same_state,
    run_config_dict,
    synthetic_data_dir,
    torch_threads,
    train_to,
    write_yaml,
)
from test_training import cli_command

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # real chunks, killed


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The 64^3 volumes: the 36^3 input (slow enough to signal mid-chunk) must fit the raw."""
    return synthetic_data_dir(tmp_path_factory, FULL_SHAPE)


# Long enough (several seconds even on a fast idle CPU) for the progress bar, which redraws
# every 2 s, to show progress before the signal.
STEPS = 240


def long_config(data, **trainer) -> dict:
    return run_config_dict(
        data,
        num_iterations=STEPS,
        validation_interval=STEPS,
        input_shape=36,
        fmaps=4,
        trainer_config={"augments": [{"type": "mirror"}, {"type": "noise", "sigma": 0.02}]}
        | trainer,
    )


def load(path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_training(a: dict, b: dict) -> None:
    for part in ("model", "optimizer", "scheduler", "sampler", "iteration", "config_hash"):
        assert_same_state(a[part], b[part], part)


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    store = tmp_path_factory.mktemp("uninterrupted")
    config = RunConfig.model_validate(long_config(data, num_data_fetchers=0))
    with torch_threads(1):
        out = train_to(config, store, STEPS)
    stats = TrainingStats.from_netcdf(Path(Layout(store).chunk_stats("tiny", STEPS)))
    return load(out), stats


def wait_for_progress(log: Path, process, timeout: float = 120.0) -> None:
    """Until the progress bar shows at least one step done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"train-chunk ended before the signal:\n{log.read_text()}")
        if re.search(rf"\|\s*[1-9]\d*/{STEPS}\b", log.read_text(errors="replace")):
            return
        time.sleep(0.1)
    pytest.fail(f"no progress within {timeout} s:\n{log.read_text()}")


def test_a_signalled_chunk_resumes_bit_exact(data, tmp_path, uninterrupted):
    """SIGUSR1 (SLURM's warning) to a real train-chunk process with a data worker; the
    rerun of the same command ends where an uninterrupted chunk (no worker) does."""
    config_file = write_yaml(tmp_path / "run.yaml", long_config(data, num_data_fetchers=1))
    layout = Layout(tmp_path / "store")
    out = Path(layout.checkpoint("tiny", STEPS))
    stats_out = Path(layout.chunk_stats("tiny", STEPS))
    command = cli_command() + ["train-chunk", "--run-config", str(config_file)]
    command += ["--iteration", str(STEPS), "--out", str(out), "--stats-out", str(stats_out)]
    command += ["--threads", "1", "--device", "cpu"]
    log = tmp_path / "first.log"
    with open(log, "w") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)
        try:
            wait_for_progress(log, process)
            process.send_signal(signal.SIGUSR1)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    text = log.read_text()
    assert code != 0, text
    assert "SIGUSR1" in text, text
    emergency = Path(emergency_state(out))
    assert emergency.exists() and not out.exists() and not stats_out.exists(), text
    reached = load(emergency)["chunk"]["reached"]
    assert 0 < reached < STEPS

    rerun = subprocess.run(command + ["--no-progress"], check=False, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from emergency state {emergency} at step {reached}" in rerun.stderr
    assert not emergency.exists()
    expected, expected_stats = uninterrupted
    assert_same_training(load(out), expected)
    stats = TrainingStats.from_netcdf(stats_out)
    assert [s.iteration for s in stats.iteration_stats] == list(range(STEPS))
    assert [s.loss for s in stats.iteration_stats] == [
        s.loss for s in expected_stats.iteration_stats
    ]


def stop_at(monkeypatch, step: int, signum=signal.SIGTERM) -> None:
    """Send `signum` to this process during optimizer step `step` (0-based, of this call)."""
    calls = {"n": 0}
    original = Stepper.step

    def step_then_signal(self, batch):
        loss = original(self, batch)
        if calls["n"] == step:
            signal.raise_signal(signum)
        calls["n"] += 1
        return loss

    monkeypatch.setattr(Stepper, "step", step_then_signal)


def test_sigterm_in_process_saves_and_resumes(data, tmp_path, monkeypatch, uninterrupted):
    config = RunConfig.model_validate(long_config(data, num_data_fetchers=0))
    stop_at(monkeypatch, 9)
    with pytest.raises(ChunkPreempted) as stopped:
        train_to(config, tmp_path, STEPS)
    assert stopped.value.reached == 10 and stopped.value.exit_code == 128 + signal.SIGTERM
    assert stopped.value.path.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    monkeypatch.undo()
    out = train_to(config, tmp_path, STEPS)
    assert_same_training(load(out), uninterrupted[0])


def identity(**changes) -> ChunkIdentity:
    values = {"config_hash": "abc", "first": 0, "target": 10, "source": None} | changes
    return ChunkIdentity(**values)


def saved_state(tmp_path) -> Path:
    path = tmp_path / "10.emergency"
    weights = Weights({"w": torch.ones(2)}, {}, iteration=4, config_hash="abc")
    save_emergency(path, weights, identity(), 4, TrainingStats())
    return path


@pytest.mark.parametrize(
    "other",
    [
        {"config_hash": "another"},
        {"source": "sha-of-another-previous-checkpoint"},
        {"first": 5},
        {"target": 20},
    ],
)
def test_a_stale_emergency_state_is_ignored_and_removed(tmp_path, other):
    path = saved_state(tmp_path)
    assert take_emergency(path, identity(**other)) is None
    assert not path.exists()


def test_a_matching_emergency_state_is_taken(tmp_path):
    path = saved_state(tmp_path)
    state = take_emergency(path, identity())
    assert state.reached == 4 and torch.equal(state.weights.model["w"], torch.ones(2))


def test_an_unreadable_emergency_state_is_removed(tmp_path):
    path = tmp_path / "10.emergency"
    path.write_bytes(b"truncated")
    assert take_emergency(path, identity()) is None
    assert not path.exists()


def test_a_stale_state_from_another_config_does_not_change_training(
    data, tmp_path, monkeypatch, uninterrupted
):
    """A state left by a chunk of another config at the same path is removed, and the
    chunk trains from its own start."""
    other = RunConfig.model_validate(long_config(data, num_data_fetchers=0, learning_rate=1e-2))
    stop_at(monkeypatch, 2)
    with pytest.raises(ChunkPreempted) as stopped:
        train_to(other, tmp_path, STEPS)
    monkeypatch.undo()
    config = RunConfig.model_validate(long_config(data, num_data_fetchers=0))
    out = train_to(config, tmp_path, STEPS)
    assert not stopped.value.path.exists()
    assert_same_training(load(out), uninterrupted[0])
