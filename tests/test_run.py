import pytest
import torch

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.nn.model import Model
from dacapo_flow.run import Run
from dacapo_flow.start import Start
from dacapo_flow.stats.training_stats import TrainingStats
from dacapo_flow.stats.validation_scores import ValidationScores
from dacapo_flow.store.weights_store import LocalWeightsStore
from dacapo_flow.tasks.affinities import AffinitiesTask
from dacapo_flow.tasks.distance import DistanceTask
from dacapo_flow.tasks.one_hot import OneHotTask
from helpers_tiny import run_config_dict, tiny_run_config

pytestmark = pytest.mark.usefixtures("one_thread")


def weights_of(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


@pytest.mark.parametrize(
    "task, cls",
    [("distance", DistanceTask), ("one_hot", OneHotTask), ("affinities", AffinitiesTask)],
)
def test_a_run_builds_its_parts(data, task, cls):
    config = tiny_run_config(data, task, trainer_config={"learning_rate": 2e-3})
    run = Run(config)
    assert isinstance(run.task, cls)
    assert isinstance(run.model, Model)
    assert run.model.num_out_channels == len(config.task_config.head_labels())
    assert run.head_labels == config.task_config.head_labels()
    assert isinstance(run.optimizer, torch.optim.RAdam)
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)
    assert isinstance(run.lr_scheduler, torch.optim.lr_scheduler.LinearLR)
    assert isinstance(run.training_stats, TrainingStats) and len(run.training_stats) == 0
    assert run.name == str(run) == "tiny"
    assert run.train_until == 4 and run.validation_interval == 2
    assert run.config_hash == config.stage_hash("train")
    assert run.start is None
    assert run.datasplit is config.datasplit_config


def test_validation_scores_are_built_lazily(data):
    run = Run(tiny_run_config(data))
    assert "validation_scores" not in vars(run)
    scores = run.validation_scores
    assert isinstance(scores, ValidationScores)
    assert scores.dataset_names == ["validate_0"]
    assert scores.criteria == run.task.criteria
    assert scores.parameters == run.task.parameters
    assert run.validation_scores is scores


def test_validation_scores_without_a_model(data):
    config = tiny_run_config(data, "affinities")
    scores = Run.get_validation_scores(config)
    assert scores.criteria == ["voi_split", "voi_merge", "voi", "adapted_rand_error"]
    assert scores.parameter_labels == [
        "threshold=0.5",
        "threshold=0.7",
        "threshold=0.9",
        "threshold=0.95",
    ]
    assert not scores.higher_is_better("voi")
    assert scores.scores == []


def test_two_runs_of_one_config_start_with_identical_weights(data):
    config = tiny_run_config(data)
    torch.manual_seed(123)  # the global RNG state must not matter
    first = weights_of(Run(config))
    torch.manual_seed(456)
    second = weights_of(Run(config))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_repetitions_start_with_different_weights(data):
    first = weights_of(Run(tiny_run_config(data, repetition=0)))
    second = weights_of(Run(tiny_run_config(data, repetition=1)))
    convs = [k for k in first if k.endswith("weight")]
    assert not any(torch.equal(first[k], second[k]) for k in convs)


def test_building_a_run_leaves_the_global_rng_alone(data):
    config = tiny_run_config(data)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    Run(config)
    assert torch.equal(torch.rand(3), expected)


def test_warmup_starts_the_learning_rate_low(data):
    config = tiny_run_config(data, trainer_config={"learning_rate": 1e-2, "warmup_iterations": 4})
    run = Run(config)
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    for _ in range(4):
        run.optimizer.step()
        run.lr_scheduler.step()
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    flat = Run(tiny_run_config(data, trainer_config={"learning_rate": 1e-2}))
    assert flat.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)


def test_move_optimizer_moves_state_but_keeps_step_counters(data):
    run = Run(tiny_run_config(data))
    loss = run.model(torch.rand(1, 1, 20, 20, 20)).square().mean()
    loss.backward()
    run.optimizer.step()
    # The meta device stands in for a GPU: a real move with no GPU needed.
    run.move_optimizer(torch.device("meta"), empty_cuda_cache=True)
    states = list(run.optimizer.state.values())
    assert states
    for state in states:
        assert state["exp_avg"].device.type == "meta"
        assert state["exp_avg_sq"].device.type == "meta"
        assert state["step"].device.type == "cpu"


def test_a_finetune_run_has_a_start_on_the_runs_store(data, tmp_path):
    config = RunConfig.model_validate(
        run_config_dict(data, start_config={"run": "up", "criterion": "nucleus__dice"})
    )
    store = LocalWeightsStore(tmp_path)
    run = Run(config, store)
    assert isinstance(run.start, Start)
    assert (run.start.run, run.start.criterion, run.start.dataset) == ("up", "nucleus__dice", None)
    assert run.start.weights_store is store
