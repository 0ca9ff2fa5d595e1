import pytest
from pydantic import TypeAdapter, ValidationError

from dacapo_flow.config.tasks import (
    AffinitiesTaskConfig,
    AnyTaskConfig,
    DistanceTaskConfig,
    OneHotTaskConfig,
    higher_is_better,
)
from dacapo_flow.factory import create_task

LABEL_IDS = {"mito": [1], "er": [2], "nucleus": [3]}

CONFIGS = {
    "distance": DistanceTaskConfig(channels=["mito", "er"], thresholds=[-0.3, 0.0, 0.4]),
    "one_hot": OneHotTaskConfig(classes=["background", "mito", "er"]),
    "affinities": AffinitiesTaskConfig(neighborhood=[[1, 0, 0], [0, 1, 0], [0, 0, 3]]),
}


def built(config):
    label_ids = {k: v for k, v in LABEL_IDS.items() if k in config.head_labels()}
    return create_task(config, label_ids)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_config_criteria_equal_the_built_tasks_criteria(kind):
    config = CONFIGS[kind]
    task = built(config)
    assert config.criteria() == list(task.criteria)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_config_directions_equal_the_built_tasks_directions(kind):
    config = CONFIGS[kind]
    task = built(config)
    for criterion in config.criteria():
        assert higher_is_better(config, criterion) == task.higher_is_better(criterion), criterion


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_config_head_labels_equal_the_built_tasks_head(kind):
    config = CONFIGS[kind]
    assert config.head_labels() == built(config).head_labels


def test_lower_is_better_criteria_are_known_without_torch():
    distance = CONFIGS["distance"]
    assert higher_is_better(distance, "mito__dice") is True
    assert higher_is_better(distance, "er__voi") is False
    assert higher_is_better(distance, "er__hausdorff") is False
    assert higher_is_better(CONFIGS["affinities"], "voi") is False
    assert higher_is_better(CONFIGS["one_hot"], "mean__dice") is True


def test_affinity_head_labels_name_the_offsets():
    assert CONFIGS["affinities"].head_labels() == ["aff_1_0_0", "aff_0_1_0", "aff_0_0_3"]


@pytest.mark.parametrize("threshold", [127.0, 1.0, -1.0, 2.5])
def test_distance_thresholds_outside_prediction_range_fail_verify(threshold):
    # DaCapo 0.3.5 thresholded tanh predictions at 127: every segmentation was empty.
    config = DistanceTaskConfig(channels=["mito"], thresholds=[0.0, threshold])
    ok, message = config.verify()
    assert not ok
    assert "thresholds[1]" in message and "outside (-1, 1)" in message


def test_distance_thresholds_inside_range_verify():
    assert DistanceTaskConfig(channels=["mito"], thresholds=[-0.99, 0.0, 0.99]).verify()[0]


def test_distance_clip_range_and_duplicate_channels_fail_verify():
    ok, message = DistanceTaskConfig(channels=["mito", "mito"], clipmin=0.9, clipmax=0.1).verify()
    assert not ok
    assert "clipmin must be smaller than clipmax" in message
    assert "'mito' is listed twice" in message


def test_distance_field_constraints_are_enforced_when_parsing():
    with pytest.raises(ValidationError, match="channels"):
        DistanceTaskConfig(channels=[])
    with pytest.raises(ValidationError, match="scale_factor"):
        DistanceTaskConfig(channels=["mito"], scale_factor=0)
    with pytest.raises(ValidationError, match="thresholds"):
        DistanceTaskConfig(channels=["mito"], thresholds=[])


def test_one_hot_needs_two_classes_and_unique_names():
    with pytest.raises(ValidationError, match="classes"):
        OneHotTaskConfig(classes=["only"])
    ok, message = OneHotTaskConfig(classes=["a", "b", "a"]).verify()
    assert not ok and "'a' is listed twice" in message


def test_affinities_zero_offset_and_thresholds_outside_unit_interval_fail_verify():
    config = AffinitiesTaskConfig(neighborhood=[[0, 0, 0], [1, 0, 0]], thresholds=[0.5, 1.0])
    ok, message = config.verify()
    assert not ok
    assert "neighborhood[0]: the zero offset has no affinity" in message
    assert "thresholds[1]" in message


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            DistanceTaskConfig(channels=["mito"], scale_factor=1e300),
            "scale_factor: at most 1e+06 (world units), got 1e+300",
        ),
        (DistanceTaskConfig(channels=["mito"], tol_distance=1e12), "tol_distance: at most 1e+06"),
        (AffinitiesTaskConfig(neighborhood=[[1, 0, 10**9]]), "neighborhood[0][2]: at most 1000"),
    ],
)
def test_finite_but_absurd_values_fail_verify(config, expected):
    ok, message = config.verify()
    assert not ok and expected in message


def test_task_type_selects_the_config_class():
    adapter = TypeAdapter(AnyTaskConfig)
    parsed = adapter.validate_python({"type": "one_hot", "classes": ["a", "b"]})
    assert isinstance(parsed, OneHotTaskConfig)
    with pytest.raises(ValidationError, match="segmentation"):
        adapter.validate_python({"type": "segmentation", "classes": ["a", "b"]})


def test_post_processing_fields_are_validation_stage_fields():
    base = DistanceTaskConfig(channels=["mito"])
    changed = DistanceTaskConfig(channels=["mito"], thresholds=[0.1], tol_distance=10.0)
    assert base.stage_hash("train") == changed.stage_hash("train")
    assert base.stage_hash("validate") != changed.stage_hash("validate")
    retargeted = DistanceTaskConfig(channels=["mito"], scale_factor=10.0)
    assert base.stage_hash("train") != retargeted.stage_hash("train")
    assert base.stage_hash("validate") == retargeted.stage_hash("validate")


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_the_main_criterion_is_a_criterion_and_unknown_ones_are_refused(kind):
    config = CONFIGS[kind]
    assert config.main_criterion() in config.criteria()
    assert config.main_criterion() == built(config).main_criterion
    with pytest.raises(ValueError, match="unknown criterion 'nope'"):
        config.higher_is_better("nope")


def test_label_problems_name_the_keys():
    distance = DistanceTaskConfig(channels=["mito", "er"])
    assert distance.label_problems({"mito": [1], "er": [2]}) == []
    (problem,) = distance.label_problems({"mito": [1]})
    assert problem.startswith("task_config.channels: label 'er' has no entry")
    one_hot = OneHotTaskConfig(classes=["bg", "a", "b"])
    assert one_hot.label_problems({"a": [1], "b": [2]}) == []
    assert one_hot.label_problems({"a": [1], "b": [1]}) == [
        "datasplit_config.label_ids.b: id 1 is claimed by both 'a' and 'b'"
    ]
    assert "only one class" in one_hot.label_problems({"a": [1]})[0]


def test_one_hot_balancing_fields_keep_existing_hashes():
    base = OneHotTaskConfig(classes=["a", "b"])
    assert "balance_classes" not in base.stage_payload("train")
    assert OneHotTaskConfig(classes=["a", "b"], balance_classes=True).stage_hash(
        "train"
    ) != base.stage_hash("train")
