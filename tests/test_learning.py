"""Training really learns: a few hundred steps of a tiny UNet on the synthetic data beat the
untrained network on each task's main criterion (validated exactly as the workflow does)."""

import numpy as np
import pytest

from dacapo_flow.run import Run
from dacapo_flow.stats.validation_scores import ValidationScores
from dacapo_flow.store.weights_store import LocalWeightsStore
from helpers_tiny import (
    FULL_SHAPE,
    synthetic_data_dir,
    tiny_run_config,
    torch_threads,
    train_to,
    validate_at,
)

# Sizes and rates that learned with a clear margin for each of trainer seeds 0-4 (so not by
# luck of one initialisation), in ~15-35 s on one CPU thread.
SETTINGS = {
    "distance": {"num_iterations": 300, "learning_rate": 3e-3},
    "one_hot": {"num_iterations": 400, "learning_rate": 5e-3},
    "affinities": {"num_iterations": 600, "learning_rate": 1e-2},
}


@pytest.fixture(scope="session")
def full_data(tmp_path_factory):
    return synthetic_data_dir(tmp_path_factory, FULL_SHAPE)


def best_main_score(config, store, iteration, run) -> float:
    path = validate_at(config, store, iteration)
    scores = ValidationScores.from_netcdf(path)
    criterion = run.task.main_criterion
    values = scores.to_array()[0, 0, :, scores.criteria.index(criterion)]
    assert not np.isnan(values).all(), f"{criterion} is undefined at iteration {iteration}"
    return np.nanmax(values) if run.task.higher_is_better(criterion) else np.nanmin(values)


@pytest.mark.slow  # real training to a learned network, per task
@pytest.mark.parametrize("task", sorted(SETTINGS))
def test_training_beats_the_untrained_network(task, full_data, tmp_path):
    settings = SETTINGS[task]
    iterations = settings["num_iterations"]
    config = tiny_run_config(
        full_data,
        task,
        name=f"learn_{task}",
        num_iterations=iterations,
        validation_interval=iterations,
        input_shape=28,
        fmaps=8,
        eval_shape_increase=24,
        learning_rate=settings["learning_rate"],
        num_data_fetchers=1,
    )
    with torch_threads(1):
        untrained = Run(config)
        LocalWeightsStore(tmp_path).store_weights(untrained, 0)
        before = best_main_score(config, tmp_path, 0, untrained)
        train_to(config, tmp_path, iterations, progress=False)
        after = best_main_score(config, tmp_path, iterations, untrained)
    criterion = untrained.task.main_criterion
    if untrained.task.higher_is_better(criterion):
        assert after > before, f"{criterion}: untrained {before:.3f}, trained {after:.3f}"
    else:
        assert after < before, f"{criterion}: untrained {before:.3f}, trained {after:.3f}"
