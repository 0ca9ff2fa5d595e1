"""DaCapo's validation-score bookkeeping (`delete_after`, `compare`, ...) on our scores."""

from dacapo_flow.interop.dacapo_scores import DaCapoValidationScores
from dacapo_flow.stats.validation_scores import (
    RecordedCriteria,
    ValidationIterationScores,
    ValidationScores,
)

CRITERIA = RecordedCriteria(["dice", "hausdorff"], [True, False])
GRID = [{"threshold": 0.0}, {"threshold": 0.25}]


def scores_of(iteration, dice=(0.1, 0.2), hausdorff=(1, 2)):
    return ValidationIterationScores(iteration, [[[d, h] for d, h in zip(dice, hausdorff)]])


def make_scores(*iterations):
    return DaCapoValidationScores(GRID, ["crop_a"], CRITERIA, [scores_of(n) for n in iterations])


def test_parameter_names_are_the_union_of_the_grids_keys_in_order():
    grid = [{"threshold": 0.25}, {"bias": 0.5, "threshold": 0}, {}]
    assert DaCapoValidationScores(grid, ["a"], CRITERIA).parameter_names == ["threshold", "bias"]


def test_delete_after_validated_until_and_keep_up_to():
    scores = make_scores(10, 20, 30)
    assert scores.validated_until() == 31
    scores.delete_after(30)
    assert [s.iteration for s in scores.scores] == [10, 20]
    assert make_scores().validated_until() == 0


def test_resume_from_checkpoint_keeps_the_newest_scores():
    # DaCapo: validated_until (N+1) > trained_until (N) -> delete_after(N) dropped the scores of N.
    scores = make_scores(10, 20)
    trained_until = 20
    scores.keep_up_to(trained_until)
    assert [s.iteration for s in scores.scores] == [10, 20]
    scores.keep_up_to(10)  # rolling back to an earlier checkpoint drops later scores only
    assert [s.iteration for s in scores.scores] == [10]


def test_compare_follows_dacapo():
    memory = make_scores(10, 20)
    assert memory.compare([]) == (False, 0)
    assert memory.compare([scores_of(n) for n in (10, 20, 30)]) == (True, 0)
    assert memory.compare([scores_of(10)]) == (False, 11)


def test_subscores_keeps_grid_datasets_and_criteria():
    sub = make_scores(10).subscores([scores_of(30, [0.5, 0.6])])
    assert isinstance(sub, DaCapoValidationScores)
    assert sub.parameters == GRID and sub.dataset_names == ["crop_a"]
    assert [s.iteration for s in sub.scores] == [30]


def test_scores_read_back_from_a_file_get_dacapos_methods(tmp_path):
    ValidationScores(GRID, ["crop_a"], CRITERIA, [scores_of(10)]).to_netcdf(tmp_path / "s.nc")
    scores = DaCapoValidationScores.of(ValidationScores.from_netcdf(tmp_path / "s.nc"))
    assert scores.validated_until() == 11 and scores.criteria == ["dice", "hausdorff"]
