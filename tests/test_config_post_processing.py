"""Post-processing grids: families, minimum sizes, checks, and unchanged hashes without them."""

import pytest

from dacapo_flow.config.post_processing import (
    MWS_BIASES,
    AffinitiesPostProcessing,
    DistancePostProcessing,
)
from dacapo_flow.config.tasks import AffinitiesTaskConfig, DistanceTaskConfig

NEAREST = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def affinities(**post_processing):
    return AffinitiesTaskConfig(neighborhood=NEAREST, post_processing=post_processing or None)


def test_without_a_section_the_thresholds_are_the_grid_and_the_hashes_stay():
    config = AffinitiesTaskConfig(neighborhood=NEAREST, thresholds=[0.5, 0.9])
    assert config.parameter_grid() == [{"threshold": 0.5}, {"threshold": 0.9}]
    # Recorded with the previous main (a2a65a1): no revalidation after the upgrade.
    default = AffinitiesTaskConfig(neighborhood=NEAREST)
    assert default.stage_hash("validate") == "298afbec45aa54c5"
    assert DistanceTaskConfig(channels=["mito"]).stage_hash("validate") == "e10277006419e8c8"


def test_families_and_min_sizes_multiply_into_one_grid():
    config = affinities(threshold={"thresholds": [0.5]}, mws={"biases": [0.25, 0.75]})
    assert config.parameter_grid() == [{"threshold": 0.5}, {"bias": 0.25}, {"bias": 0.75}]
    sized = affinities(mws={"biases": [0.5]}, min_sizes=[0, 20])
    assert sized.parameter_grid() == [{"bias": 0.5, "min_size": 0}, {"bias": 0.5, "min_size": 20}]
    assert affinities(mws={}).parameter_grid() == [{"bias": b} for b in MWS_BIASES]


def test_a_section_enters_the_validation_hash_only():
    plain, mws = AffinitiesTaskConfig(neighborhood=NEAREST), affinities(mws={})
    assert plain.stage_hash("train") == mws.stage_hash("train")
    assert plain.stage_hash("validate") != mws.stage_hash("validate")


def test_seeded_watershed_grid_and_its_instance_criterion():
    config = DistanceTaskConfig(
        channels=["mito"],
        post_processing={
            "threshold": {"thresholds": [0.0]},
            "seeded_watershed": {"thresholds": [0.0], "seed_distances": [20.0, 40.0]},
        },
    )
    assert config.parameter_grid() == [
        {"threshold": 0.0},
        {"threshold": 0.0, "seed_distance": 20.0},
        {"threshold": 0.0, "seed_distance": 40.0},
    ]
    assert "mito__adapted_rand_error" in config.criteria()
    assert not config.higher_is_better("mito__adapted_rand_error")
    assert "mito__adapted_rand_error" not in DistanceTaskConfig(channels=["mito"]).criteria()


@pytest.mark.parametrize(
    "config, message",
    [
        (
            affinities(min_sizes=[0]),
            "post_processing: name at least one post-processing family (threshold, mws)",
        ),
        (affinities(mws={}, min_sizes=[-1]), "post_processing.min_sizes[0]: -1 is negative"),
        (
            affinities(threshold={"thresholds": [1.5]}),
            "post_processing.threshold.thresholds[0]: 1.5 is outside (0, 1)",
        ),
        (
            affinities(threshold={"thresholds": [0.5, 0.5]}),
            "post-processing point {'threshold': 0.5} is in the grid twice",
        ),
        (
            AffinitiesTaskConfig(
                neighborhood=NEAREST, thresholds=[0.3], post_processing={"mws": {}}
            ),
            "thresholds: with a post_processing section, give the threshold grid as post_",
        ),
        (
            DistanceTaskConfig(
                channels=["mito"],
                post_processing={
                    "seeded_watershed": {"thresholds": [0.0], "seed_distances": [0.0]}
                },
            ),
            "post_processing.seeded_watershed.seed_distances[0]: 0.0 must be > 0",
        ),
    ],
)
def test_bad_grids_are_named_by_key(config, message):
    assert any(problem.startswith(message) for problem in config.problems()), config.problems()


def test_partial_criteria_are_not_selected_by_default():
    task = AffinitiesTaskConfig(neighborhood=NEAREST)
    assert task.default_selected_criteria() == ["voi", "adapted_rand_error"]
    assert DistancePostProcessing(threshold={"thresholds": [0.0]}).grid() == [{"threshold": 0.0}]
    assert AffinitiesPostProcessing(mws={"biases": [0.5]}).families().keys() == {"mws"}
