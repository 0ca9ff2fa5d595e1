import math

import numpy as np
import pytest
import xarray as xr

from dacapo_flow.stats.validation_scores import (
    ValidationIterationScores,
    ValidationScores,
    parameter_label,
)

NAN = float("nan")


class Criteria:
    """What a Task offers: criteria and each one's direction."""

    def __init__(self, directions):
        self.directions = directions
        self.criteria = list(directions)

    def higher_is_better(self, criterion):
        return self.directions[criterion]


DICE_HAUSDORFF = Criteria({"dice": True, "hausdorff": False})
GRID = [{"threshold": 0.0}, {"threshold": 0.25}]


def scores_of(iteration, dice, hausdorff):
    """One iteration of one dataset: per parameter (dice, hausdorff)."""
    return ValidationIterationScores(iteration, [[[d, h] for d, h in zip(dice, hausdorff)]])


def make_scores(*iterations, datasets=("crop_a",)):
    """Scores whose datasets all got the same values."""
    scores = ValidationScores(GRID, list(datasets), DICE_HAUSDORFF)
    for it in iterations:
        scores.add_iteration_scores(
            ValidationIterationScores(it.iteration, it.scores * len(datasets))
        )
    return scores


def test_labels_names_and_criteria():
    scores = ValidationScores(
        [{"threshold": 0.25}, {"bias": 0.5, "threshold": 0}, {}], ["a"], DICE_HAUSDORFF
    )
    assert scores.parameter_labels == ["threshold=0.25", "bias=0.5,threshold=0", "argmax"]
    assert scores.criteria == ["dice", "hausdorff"]
    assert parameter_label("threshold_127") == "threshold_127"
    assert parameter_label({"threshold": np.float64(0.5)}) == "threshold=0.5"


def test_revalidated_iteration_replaces_old_entry_in_order():
    # DaCapo appended: a re-validated iteration gave duplicate iteration coordinates.
    scores = make_scores(
        scores_of(20, [0.1, 0.2], [5, 4]),
        scores_of(10, [0.3, 0.4], [3, 2]),
        scores_of(20, [0.9, 0.8], [1, 1]),
    )
    assert [s.iteration for s in scores.scores] == [10, 20]
    data = scores.to_xarray()
    assert data["iterations"].values.tolist() == [10, 20]
    assert data.sel(iterations=20, criteria="dice").values.ravel().tolist() == [0.9, 0.8]


def test_ragged_or_wrong_shape_scores_are_refused_naming_the_iteration():
    scores = make_scores()
    with pytest.raises(ValueError, match="iteration 30.*shape"):
        scores.add_iteration_scores(ValidationIterationScores(30, [[[1.0, 2.0]]]))
    with pytest.raises(ValueError, match="iteration 40"):
        scores.add_iteration_scores(ValidationIterationScores(40, [[[1.0, 2.0], [1.0]]]))


def test_to_xarray_dims_coordinates_and_directions():
    data = make_scores(scores_of(10, [0.1, 0.2], [1, 2]), datasets=("a", "b")).to_xarray()
    assert data.dims == ("iterations", "datasets", "parameters", "criteria")
    assert data["datasets"].values.tolist() == ["a", "b"]
    assert data["parameters"].values.tolist() == ["threshold=0.0", "threshold=0.25"]
    assert data["criteria"].values.tolist() == ["dice", "hausdorff"]
    assert data["higher_is_better"].values.tolist() == [True, False]


def test_netcdf_round_trip_keeps_grid_and_directions(tmp_path):
    scores = make_scores(
        scores_of(10, [0.1, NAN], [1, 2]), scores_of(20, [0.5, 0.6], [3, 0.5]), datasets=("a", "b")
    )
    scores.to_netcdf(tmp_path / "scores.nc")
    back = ValidationScores.from_netcdf(tmp_path / "scores.nc")
    assert back.parameters == GRID
    assert back.dataset_names == ["a", "b"]
    assert back.criteria == ["dice", "hausdorff"]
    assert not back.higher_is_better("hausdorff")
    np.testing.assert_array_equal(back.to_array(), scores.to_array())
    assert back.best_per_dataset_and_criterion() == scores.best_per_dataset_and_criterion()
    empty = make_scores()
    empty.to_netcdf(tmp_path / "empty.nc")
    assert ValidationScores.from_netcdf(tmp_path / "empty.nc").scores == []


def test_get_best_uses_each_criterions_own_direction():
    # DaCapo applied the first criterion's direction (dice: max) to hausdorff too.
    scores = make_scores(
        scores_of(10, [0.2, 0.2], [9, 9]),
        scores_of(20, [0.8, 0.8], [5, 5]),
        scores_of(30, [0.5, 0.5], [1, 1]),
    )
    data = scores.to_xarray().sel(datasets="crop_a", parameters="threshold=0.0")
    best_iteration, best_value = scores.get_best(data, "iterations")
    assert best_iteration.sel(criteria="dice").item() == 20
    assert best_iteration.sel(criteria="hausdorff").item() == 30
    assert best_value.sel(criteria="dice").item() == 0.8
    assert best_value.sel(criteria="hausdorff").item() == 1


def test_get_best_on_one_selected_criterion():
    # DaCapo crashed: iteration over a 0-d criteria coordinate.
    scores = make_scores(scores_of(10, [0.2, 0.2], [9, 9]), scores_of(20, [0.8, 0.8], [5, 5]))
    data = scores.to_xarray().sel(criteria="hausdorff", datasets="crop_a")
    best_iteration, best_value = scores.get_best(data, "iterations")
    assert best_iteration.values.tolist() == [20, 20]  # one per parameter
    assert best_value.values.tolist() == [5, 5]


def test_get_best_with_a_single_criterion_task():
    scores = ValidationScores([{}], ["a"], Criteria({"voi": False}))
    for iteration, voi in ((10, 0.5), (20, 0.2), (30, 0.4)):
        scores.add_iteration_scores(ValidationIterationScores(iteration, [[[voi]]]))
    best_iteration, best_value = scores.get_best(scores.to_xarray(), "iterations")
    assert best_iteration.sel(criteria="voi").squeeze().item() == 20
    assert best_value.squeeze().item() == 0.2


def test_get_best_along_parameters():
    scores = make_scores(scores_of(10, [0.2, 0.7], [9, 3]))
    data = scores.to_xarray().sel(iterations=10, datasets="crop_a")
    best_parameters, _ = scores.get_best(data, "parameters")
    assert best_parameters.sel(criteria="dice").item() == "threshold=0.25"
    assert best_parameters.sel(criteria="hausdorff").item() == "threshold=0.25"


def test_nan_is_never_best_and_all_nan_gives_nan():
    scores = make_scores(
        scores_of(10, [NAN, 0.1], [NAN, 2]),
        scores_of(20, [0.3, NAN], [NAN, NAN]),
    )
    data = scores.to_xarray().sel(datasets="crop_a", parameters="threshold=0.0")
    best_iteration, best_value = scores.get_best(data, "iterations")
    assert best_iteration.sel(criteria="dice").item() == 20
    assert math.isnan(best_iteration.sel(criteria="hausdorff").item())
    assert math.isnan(best_value.sel(criteria="hausdorff").item())


def test_get_best_refuses_data_without_criteria():
    scores = make_scores(scores_of(10, [0.1, 0.2], [1, 2]))
    with pytest.raises(ValueError, match="criteria"):
        scores.get_best(xr.DataArray([1.0, 2.0], dims="iterations"), "iterations")


def test_best_per_dataset_and_criterion_joint_with_own_direction_and_ties():
    scores = make_scores(
        scores_of(10, [0.2, 0.9], [4, 2]),
        scores_of(20, [0.9, 0.5], [2, NAN]),
        scores_of(30, [NAN, 0.1], [7, 8]),
        datasets=("a", "b"),
    )
    records = scores.best_per_dataset_and_criterion()
    assert len(records) == 4
    by_key = {(r["dataset"], r["criterion"]): r for r in records}
    dice = by_key[("a", "dice")]
    # dice 0.9 at (10, threshold=0.25) and (20, threshold=0.0): earliest iteration wins
    assert dice == {
        "dataset": "a",
        "criterion": "dice",
        "iteration": 10,
        "parameters": {"threshold": 0.25},
        "score": 0.9,
        "higher_is_better": True,
    }
    hausdorff = by_key[("b", "hausdorff")]
    # hausdorff 2 at (10, threshold=0.25) and (20, threshold=0.0): earliest, lower is better
    assert (hausdorff["iteration"], hausdorff["parameters"]) == (10, {"threshold": 0.25})
    assert hausdorff["higher_is_better"] is False


def test_best_per_dataset_and_criterion_ties_within_an_iteration_take_the_first_parameter():
    scores = make_scores(scores_of(10, [0.5, 0.5], [1, 1]))
    for record in scores.best_per_dataset_and_criterion():
        assert record["parameters"] == {"threshold": 0.0}


def test_best_per_dataset_and_criterion_all_nan_has_no_iteration():
    scores = make_scores(scores_of(10, [0.5, 0.4], [NAN, NAN]))
    hausdorff = [
        r for r in scores.best_per_dataset_and_criterion() if r["criterion"] == "hausdorff"
    ]
    assert hausdorff[0]["iteration"] is None and hausdorff[0]["score"] is None


def test_get_best_along_parameters_keeps_each_criterion_with_its_own_row():
    # criteria is not the last dimension left: directions must still follow their rows.
    scores = make_scores(scores_of(10, [0.2, 0.7], [9, 3]), scores_of(20, [0.6, 0.1], [1, 8]))
    data = scores.to_xarray().transpose("criteria", "iterations", "datasets", "parameters")
    _, best = scores.get_best(data, "parameters")
    assert best.sel(criteria="dice", datasets="crop_a").values.tolist() == [0.7, 0.6]
    assert best.sel(criteria="hausdorff", datasets="crop_a").values.tolist() == [3, 1]
    _, again = scores.get_best(scores.to_xarray(), "parameters")
    assert again.sel(criteria="dice", datasets="crop_a").values.tolist() == [0.7, 0.6]
