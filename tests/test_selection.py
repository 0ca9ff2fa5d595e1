import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dacapo_flow.layout import Layout
from dacapo_flow.run import Run
from dacapo_flow.selection import (
    SelectionError,
    collect_scores,
    grid_edges,
    select_best,
    sorted_by_iteration,
)
from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats
from dacapo_flow.stats.validation_scores import ValidationIterationScores, ValidationScores
from dacapo_flow.store.weights import Weights, load_checkpoint, save_checkpoint
from dacapo_flow.store.weights_store import LocalWeightsStore
from helpers_tiny import tiny_run_config

ITERATIONS = [10, 2, 30]  # deliberately out of order, and "10" < "2" as text


def scores_of(config, iteration, values) -> ValidationScores:
    scores = Run.get_validation_scores(config)
    scores.add_iteration_scores(ValidationIterationScores(iteration, values))
    return scores


def distance_values(config, iteration):
    """Scores that make nucleus__dice best at iteration 10 with threshold 0.0, and
    nucleus__voi (lower is better) best at iteration 30 with threshold -0.2."""
    criteria = config.criteria()
    values = np.full((1, 3, len(criteria)), 0.5)
    dice, voi = criteria.index("nucleus__dice"), criteria.index("nucleus__voi")
    values[0, :, dice] = [0.1, 0.2, 0.3]
    values[0, :, voi] = [0.9, 0.8, 0.7]
    if iteration == 10:
        values[0, 1, dice] = 0.95
    if iteration == 30:
        values[0, 0, voi] = 0.05
    values[0, :, criteria.index("mito__hausdorff")] = np.nan
    return values


@pytest.fixture
def collected(data, tmp_path):
    config = tiny_run_config(data, name="sel")
    score_files, stats_files = [], []
    starts = {2: 0, 10: 2, 30: 10}
    for iteration in ITERATIONS:
        path = tmp_path / "per_iteration" / "scores" / f"{iteration}.nc"
        scores_of(config, iteration, distance_values(config, iteration)).to_netcdf(path)
        score_files.append(path)
        stats = TrainingStats(
            TrainingIterationStats(i, float(i), 0.1) for i in range(starts[iteration], iteration)
        )
        stats_path = tmp_path / "per_iteration" / "stats" / f"{iteration}.nc"
        stats.to_netcdf(stats_path)
        stats_files.append(stats_path)
    store = tmp_path / "store"
    scores_out = store / "sel" / "validation_scores.nc"
    stats_out = store / "sel" / "training_stats.nc"
    collect_scores(score_files, stats_files, scores_out, stats_out)
    return config, store, scores_out, stats_out


def test_sorted_by_iteration_sorts_numerically(tmp_path):
    paths = [tmp_path / "10.nc", tmp_path / "2.nc", tmp_path / "100.nc"]
    assert [p.stem for p in sorted_by_iteration(paths)] == ["2", "10", "100"]


def test_collect_scores_merges_in_iteration_order(collected):
    config, _, scores_out, stats_out = collected
    merged = ValidationScores.from_netcdf(scores_out)
    assert [s.iteration for s in merged.scores] == [2, 10, 30]
    for entry in merged.scores:
        np.testing.assert_array_equal(
            entry.scores, distance_values(config, entry.iteration), strict=False
        )
    assert merged.criteria == config.criteria()
    stats = TrainingStats.from_netcdf(stats_out)
    assert [s.iteration for s in stats.iteration_stats] == list(range(30))
    assert stats.trained_until() == 30


def fake_checkpoints(directory, iterations) -> list:
    """Checkpoints whose one tensor says which iteration they are."""
    paths = []
    for iteration in iterations:
        weights = Weights(
            {"w": torch.full((2,), float(iteration))},
            {"state": {}},
            iteration=iteration,
            config_hash=f"hash{iteration}",
            head_labels=["mito", "er"],
        )
        paths.append(save_checkpoint(weights, directory / "checkpoints" / str(iteration)))
    return paths


def select(store, criterion, run="sel", dataset="validate_0", iterations=ITERATIONS):
    layout = Layout(store)
    record = select_best(
        layout.validation_scores(run),
        dataset,
        criterion,
        fake_checkpoints(Path(layout.run_dir(run)), iterations),
        layout.best_record(run, dataset, criterion),
        layout.best_weights(run, dataset, criterion),
    )
    path = Path(layout.best_record(run, dataset, criterion))
    assert json.loads(path.read_text()) == record.model_dump(mode="json")
    return record


def test_select_best_writes_the_record_where_retrieve_best_reads_it(collected):
    _, store, _, _ = collected
    record = select(store, "nucleus__dice")
    assert record.iteration == 10
    assert record.parameters == {"threshold": 0.0}
    assert record.score == pytest.approx(0.95)
    assert record.higher_is_better is True
    assert record.dataset == "validate_0"
    assert record.criterion == "nucleus__dice"
    assert LocalWeightsStore(store).retrieve_best("sel", "validate_0", "nucleus__dice") == 10


def test_select_best_copies_the_winning_model_weights_and_records_its_hash(collected):
    _, store, _, _ = collected
    record = select(store, "nucleus__dice")
    path = LocalWeightsStore(store).best_weights_path("sel", "validate_0", "nucleus__dice")
    assert not path.is_symlink()
    weights = load_checkpoint(path)
    assert torch.equal(weights.model["w"], torch.full((2,), 10.0))
    assert weights.optimizer is None and weights.iteration == 10
    assert record.config_hash == weights.config_hash == "hash10"
    assert record.head_labels == ["mito", "er"]


def test_select_best_respects_a_lower_is_better_criterion(collected):
    _, store, _, _ = collected
    record = select(store, "nucleus__voi")
    assert record.iteration == 30
    assert record.parameters == {"threshold": -0.2}
    assert record.score == pytest.approx(0.05)
    assert record.higher_is_better is False


def test_a_criterion_without_any_valid_score_fails_selection_and_writes_nothing(collected):
    _, store, _, _ = collected
    with pytest.raises(SelectionError, match="no checkpoint has a valid score for mito__hausdorff"):
        select(store, "mito__hausdorff")
    assert not (store / "sel" / "validate_0").exists()


def test_the_winner_must_be_among_the_checkpoints_given(collected):
    _, store, _, _ = collected
    with pytest.raises(SelectionError, match=r"best iteration 10 .* not among .*\[2, 30\]"):
        select(store, "nucleus__dice", iterations=[2, 30])


def test_select_best_names_unknown_datasets_and_criteria(collected):
    _, store, _, _ = collected
    with pytest.raises(ValueError, match="no validation dataset 'validate_9'"):
        select(store, "nucleus__dice", dataset="validate_9")
    with pytest.raises(ValueError, match="no criterion 'golgi__dice'"):
        select(store, "golgi__dice")


def test_a_parameterless_task_records_empty_parameters(data, tmp_path):
    config = tiny_run_config(data, "one_hot", name="oh")
    values = np.linspace(0, 1, len(config.criteria()))[None, None, :]
    path = tmp_path / "oh" / "validation_scores.nc"
    scores_of(config, 4, values).to_netcdf(path)
    record = select(tmp_path, "mean__dice", run="oh", iterations=[4])
    assert record.parameters == {}
    assert record.iteration == 4


def test_a_selected_value_at_the_edge_of_its_grid_is_flagged(collected, caplog):
    _, store, _, _ = collected
    with caplog.at_level("WARNING"):
        record = select(store, "nucleus__voi")  # threshold -0.2: the lowest of -0.2, 0, 0.2
    assert record.grid_edges == {"threshold": "lowest"}
    assert "threshold=-0.2 is the lowest of its grid: extend the grid" in caplog.text
    assert select(store, "nucleus__dice").grid_edges == {}  # 0.0, inside the grid


def test_grid_edges_compare_within_a_family_and_skip_an_unfiltered_min_size():
    grid = [{"threshold": 0.5}, {"threshold": 0.9}, {"bias": 0.1, "min_size": 0}]
    grid += [{"bias": 0.5, "min_size": 0}, {"bias": 0.1, "min_size": 50}]
    assert grid_edges(grid, {"threshold": 0.9}) == {"threshold": "highest"}
    assert grid_edges(grid, {"bias": 0.5, "min_size": 0}) == {"bias": "highest"}
    assert grid_edges(grid, {"bias": 0.1, "min_size": 50}) == {
        "bias": "lowest",
        "min_size": "highest",
    }
    assert grid_edges([{}], {}) == {}


def test_collect_scores_without_score_files_still_collects_the_stats(tmp_path):
    stats_path = tmp_path / "2.nc"
    TrainingStats([TrainingIterationStats(0, 1.0, 0.1)]).to_netcdf(stats_path)
    collect_scores([], [stats_path], tmp_path / "scores.nc", tmp_path / "stats.nc")
    assert (tmp_path / "stats.nc").exists() and (tmp_path / "scores.nc").exists()
