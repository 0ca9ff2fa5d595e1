import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.layout import Layout
from dacapo_flow.stats.training_stats import TrainingStats
from dacapo_flow.store.weights_store import LocalWeightsStore
from dacapo_flow.training import TrainingError
from helpers_tiny import (
    assert_same_state,
    merged,
    run_config_dict,
    tiny_run_config,
    torch_threads,
    train_to,
    write_yaml,
)

# Warm-up across the chunk boundary and random augments: resuming must restore the LR
# scheduler and draw the same augmented batches.
TRAINER = {
    "learning_rate": 1e-3,
    "warmup_iterations": 4,
    "augments": [
        {"type": "mirror"},
        {"type": "transpose"},
        {"type": "intensity", "scale": [0.9, 1.1], "shift": [-0.05, 0.05]},
        {"type": "noise", "sigma": 0.02},
    ],
}


def cli_command() -> list[str]:
    executable = shutil.which("dacapo-flow")
    return [executable] if executable else [sys.executable, "-m", "dacapo_flow.cli"]


pytestmark = pytest.mark.usefixtures("one_thread")


def resume_config(data, interval: int, fetchers: int) -> dict:
    return run_config_dict(
        data,
        num_iterations=6,
        validation_interval=interval,
        trainer_config=merged(TRAINER, {"num_data_fetchers": fetchers}),
    )


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """Iteration 6 of one config reached three ways:
    "whole": 0->6 in one call; "chunks": 0->3, 3->6 in this process; "split": 0->3 here with
    a background data worker, then 3->6 in a separate `dacapo-flow train-chunk` process."""
    root = tmp_path_factory.mktemp("trained")
    stores = {name: root / name for name in ("whole", "chunks", "split")}
    configs = {
        "whole": RunConfig.model_validate(resume_config(data, 6, 0)),
        "chunks": RunConfig.model_validate(resume_config(data, 3, 0)),
        "split": RunConfig.model_validate(resume_config(data, 3, 1)),
    }
    with torch_threads(1):
        train_to(configs["whole"], stores["whole"], 6, progress=False)
        first = train_to(configs["chunks"], stores["chunks"], 3, progress=False)
        train_to(configs["chunks"], stores["chunks"], 6, previous=first, progress=False)
        first = train_to(configs["split"], stores["split"], 3, progress=False)
    config_file = write_yaml(root / "split.yaml", resume_config(data, 3, 1))
    result = subprocess.run(
        cli_command()
        + ["train-chunk", "--run-config", str(config_file), "--iteration", "6"]
        + ["--out", Layout(stores["split"]).checkpoint("tiny", 6)]
        + ["--stats-out", Layout(stores["split"]).chunk_stats("tiny", 6)]
        + ["--previous", str(first), "--threads", "1", "--device", "cpu"]
        + ["--no-progress"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return {"stores": stores, "configs": configs, "root": root}


def checkpoint(store: Path, iteration: int, run: str = "tiny") -> dict:
    path = LocalWeightsStore(store).checkpoint_path(run, iteration)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("other", ["chunks", "split"])
def test_resumed_training_is_bit_exact(trained, other):
    whole = checkpoint(trained["stores"]["whole"], 6)
    resumed = checkpoint(trained["stores"][other], 6)
    for part in ("model", "optimizer", "scheduler"):
        assert_same_state(whole[part], resumed[part], part)
    assert whole["config_hash"] == resumed["config_hash"]


def test_a_background_data_worker_gives_the_same_training(trained):
    sync = checkpoint(trained["stores"]["chunks"], 3)
    worker = checkpoint(trained["stores"]["split"], 3)
    for part in ("model", "optimizer", "scheduler"):
        assert_same_state(sync[part], worker[part], part)


def test_training_changes_the_weights(trained, data):
    from dacapo_flow.run import Run

    initial = Run(trained["configs"]["whole"]).model.state_dict()
    final = checkpoint(trained["stores"]["whole"], 6)["model"]
    assert any(not torch.equal(initial[k], final[k]) for k in initial)


def test_the_scheduler_state_continues_across_chunks(trained):
    assert checkpoint(trained["stores"]["chunks"], 3)["scheduler"]["last_epoch"] == 3
    assert checkpoint(trained["stores"]["chunks"], 6)["scheduler"]["last_epoch"] == 6


def test_a_checkpoint_holds_everything_to_continue(trained):
    config = trained["configs"]["chunks"]
    saved = checkpoint(trained["stores"]["chunks"], 6)
    assert saved["format"] == "dacapo-flow-checkpoint"
    assert saved["iteration"] == 6
    assert saved["config_hash"] == config.stage_hash("train")
    assert saved["head_labels"] == ["nucleus", "mito"]
    assert saved["sampler"] == {"seed": config.seed(), "iteration": 6}
    assert {"python", "numpy", "torch"} <= set(saved["rng"])
    assert saved["optimizer"]["state"]  # RAdam moments are stored


def test_each_chunk_writes_its_training_stats(trained):
    store = trained["stores"]["chunks"]
    first = TrainingStats.from_netcdf(Path(Layout(store).chunk_stats("tiny", 3)))
    second = TrainingStats.from_netcdf(Path(Layout(store).chunk_stats("tiny", 6)))
    assert [s.iteration for s in first.iteration_stats] == [0, 1, 2]
    assert [s.iteration for s in second.iteration_stats] == [3, 4, 5]
    whole = TrainingStats.from_netcdf(
        Path(Layout(trained["stores"]["whole"]).chunk_stats("tiny", 6))
    )
    joined = TrainingStats.concat([first, second])
    assert [s.loss for s in joined.iteration_stats] == [s.loss for s in whole.iteration_stats]
    assert all(s.time >= 0 for s in whole.iteration_stats)


def test_a_diverging_run_stops_without_writing_anything(data, tmp_path):
    config = RunConfig.model_validate(
        run_config_dict(data, name="diverge", trainer_config={"learning_rate": 1e30})
    )
    with pytest.raises(TrainingError, match=r"run 'diverge': loss is (nan|inf)") as info:
        train_to(config, tmp_path, 2, progress=False)
    assert "no checkpoint written" in str(info.value)
    assert not (tmp_path / "diverge" / "checkpoints").exists()
    assert not Path(Layout(tmp_path).chunk_stats("diverge", 2)).exists()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_infinite_inputs_stop_training_with_a_clear_error(data, tmp_path):
    spec = run_config_dict(data, name="infinite")
    for dataset in spec["datasplit_config"]["train_configs"]:
        dataset["raw"].update(min=0.0, max=1e-40)  # 1 / (max - min) overflows float32
    config = RunConfig.model_validate(spec)
    with pytest.raises(TrainingError, match="loss is nan"):
        train_to(config, tmp_path, 2, progress=False)
    assert not list(tmp_path.rglob("checkpoints/iterations/*"))


def test_a_checkpoint_of_another_training_config_is_refused(trained, data, tmp_path):
    previous = LocalWeightsStore(trained["stores"]["chunks"]).checkpoint_path("tiny", 3)
    other = RunConfig.model_validate(
        resume_config(data, 3, 0) | {"trainer_config": merged(TRAINER, {"learning_rate": 5e-3})}
    )
    with pytest.raises(TrainingError, match="different training config") as info:
        train_to(other, tmp_path, 6, previous=previous, progress=False)
    message = str(info.value)
    assert str(previous) in message and other.stage_hash("train") in message
    assert not (tmp_path / "tiny").exists()


def test_a_checkpoint_of_the_wrong_iteration_is_refused(trained, data, tmp_path):
    previous = LocalWeightsStore(trained["stores"]["chunks"]).checkpoint_path("tiny", 3)
    longer = RunConfig.model_validate(merged(resume_config(data, 3, 0), {"num_iterations": 9}))
    with pytest.raises(TrainingError, match="holds iteration 3, expected 6"):
        train_to(longer, tmp_path, 9, previous=previous, progress=False)


def test_chunks_must_be_given_the_right_predecessor(trained, data, tmp_path):
    config = trained["configs"]["chunks"]
    previous = LocalWeightsStore(trained["stores"]["chunks"]).checkpoint_path("tiny", 3)
    with pytest.raises(TrainingError, match="needs the checkpoint of iteration 3"):
        train_to(config, tmp_path, 6, progress=False)
    with pytest.raises(TrainingError, match="needs no previous checkpoint"):
        train_to(config, tmp_path, 3, previous=previous, progress=False)
    with pytest.raises(TrainingError, match=r"has no checkpoint 5: \[3, 6\]"):
        train_to(config, tmp_path, 5, previous=previous, progress=False)


def test_raising_num_iterations_continues_from_the_last_checkpoint(trained, data, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(trained["stores"]["chunks"], store)
    longer = RunConfig.model_validate(merged(resume_config(data, 3, 0), {"num_iterations": 8}))
    assert longer.iterations() == [3, 6, 8]
    previous = LocalWeightsStore(store).checkpoint_path("tiny", 6)
    path = train_to(longer, store, 8, previous=previous, progress=False)
    assert torch.load(path, weights_only=True)["iteration"] == 8
    stats = TrainingStats.from_netcdf(Path(Layout(store).chunk_stats("tiny", 8)))
    assert [s.iteration for s in stats.iteration_stats] == [6, 7]


def test_a_finetune_starts_from_the_upstream_checkpoint_with_matched_heads(trained, data):
    store = trained["root"] / "finetune_store"
    shutil.copytree(trained["stores"]["chunks"], store)
    spec = run_config_dict(
        data,
        name="ft",
        num_iterations=1,
        validation_interval=1,
        task_config={"channels": ["mito", "nucleus"]},  # the upstream head is nucleus, mito
        trainer_config={"learning_rate": 1e-12},  # one step that moves nothing measurably
        start_config={"run": "tiny", "criterion": "3"},
    )
    start = LocalWeightsStore(store).checkpoint_path("tiny", 3)
    path = train_to(RunConfig.model_validate(spec), store, 1, start=start)
    tuned = torch.load(path, weights_only=True)["model"]
    upstream = checkpoint(store, 3)["model"]
    assert tuned["chain.1.weight"].shape == upstream["chain.1.weight"].shape
    for key in upstream:
        if key.startswith(("chain.1.", "prediction_head.")):
            torch.testing.assert_close(tuned[key][0], upstream[key][1], rtol=0, atol=1e-9)
            torch.testing.assert_close(tuned[key][1], upstream[key][0], rtol=0, atol=1e-9)
        else:
            torch.testing.assert_close(tuned[key], upstream[key], rtol=0, atol=1e-9)


def test_a_run_with_a_start_config_needs_the_start_file_and_one_without_refuses_it(trained, data):
    """The file itself is trusted: the plan resolves it (tests/test_plan_starts.py)."""
    store = trained["root"] / "missing_start_store"
    shutil.copytree(trained["stores"]["chunks"], store)
    spec = run_config_dict(
        data,
        name="ft_missing",
        num_iterations=1,
        validation_interval=1,
        start_config={"run": "tiny", "criterion": "3"},
    )
    with pytest.raises(TrainingError, match="needs the starter weights file"):
        train_to(RunConfig.model_validate(spec), store, 1, progress=False)
    assert not LocalWeightsStore(store).checkpoint_path("ft_missing", 1).exists()
    fresh = run_config_dict(data, name="fresh", num_iterations=1, validation_interval=1)
    start = LocalWeightsStore(store).checkpoint_path("tiny", 3)
    with pytest.raises(TrainingError, match="has no start_config"):
        train_to(RunConfig.model_validate(fresh), store, 1, start=start, progress=False)


def test_affinities_with_lsds_train_through_the_sampler(data, tmp_path, one_thread):
    """LSD targets need gt around the window: the chunk reads it, with augments, and trains
    the extra head channels."""
    config = tiny_run_config(
        data,
        "affinities",
        name="lsds",
        task_config={"lsds": True, "num_lsd_voxels": 2},
        trainer_config={"augments": [{"type": "mirror"}, {"type": "transpose"}]},
    )
    out = train_to(config, tmp_path, 2)
    state = torch.load(out, weights_only=True)["model"]
    head = [key for key in state if key == "chain.1.weight"]  # the prediction head
    assert head and state[head[0]].shape[0] == 3 + 10
