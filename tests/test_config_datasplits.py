import pytest
from pydantic import ValidationError

from dacapo_flow.config.datasplits import (
    ArrayConfig,
    RawGTDatasetConfig,
    TrainValidateDataSplitConfig,
)
from helpers_tiny import dataset, dataset_entry, split


def test_dataset_names_must_be_unique_and_path_safe(data):
    ok, message = split([dataset(data)], [dataset(data)]).verify()
    assert not ok and "dataset name 'train_0' is used twice" in message
    with pytest.raises(ValidationError, match="name"):
        dataset(data, name="../escape")
    with pytest.raises(ValidationError, match="weight"):
        dataset(data, weight=0)


def test_a_datasplit_needs_a_training_dataset():
    with pytest.raises(ValidationError, match="train_configs"):
        TrainValidateDataSplitConfig(train_configs=[])


def test_validation_datasets_are_validation_stage_fields(data):
    base = split([dataset(data)])
    with_validation = split([dataset(data)], [dataset(data, name="validate_0")])
    assert base.stage_hash("train") == with_validation.stage_hash("train")
    assert base.stage_hash("validate") != with_validation.stage_hash("validate")
    renamed = base.model_copy(update={"name": "other"})
    assert renamed.stage_hash("train") == base.stage_hash("train")
    more_training = split([dataset(data), dataset(data, name="t1", volume="train_1")])
    assert more_training.stage_hash("train") != base.stage_hash("train")


def test_label_ids_may_be_nonzero_but_no_other_word(data):
    config = TrainValidateDataSplitConfig(
        label_ids={"fg": "nonzero"}, train_configs=[dataset(data)]
    )
    assert config.label_ids == {"fg": "nonzero"}
    with pytest.raises(ValidationError, match="label_ids"):
        TrainValidateDataSplitConfig(label_ids={"fg": "all"}, train_configs=[dataset(data)])


def test_an_intensity_range_must_not_be_empty(data):
    entry = dataset_entry(data, "train_0", "train_0", "labels")
    entry["raw"].update(min=200.0, max=100.0)
    ok, message = RawGTDatasetConfig.model_validate(entry).verify()
    assert not ok and "raw.max: 100.0 must exceed min 200.0" in message


@pytest.mark.parametrize(
    "where, change, expected",
    [
        ("raw", {"min": 0.0, "max": 1e300}, "raw.max: at most 1.84467e+19"),
        ("raw", {"min": -1e300, "max": 1.0}, "raw.min: |value| at most"),
        (None, {"weight": 1e300}, "weight: at most 1e+06 (relative to the others), got 1e+300"),
    ],
)
def test_finite_but_absurd_values_are_refused(data, where, change, expected):
    entry = dataset_entry(data, "train_0", "train_0", "labels")
    (entry[where] if where else entry).update(change)
    found = RawGTDatasetConfig.model_validate(entry).problems()
    assert any(expected in line for line in found), found


def test_percentiles_exclude_min_max_and_must_be_ordered():

    ok = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[0.5, 99.5])
    assert ok.problems() == []
    both = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[1, 99], min=0)
    assert any("not both" in p for p in both.problems())
    reversed_ = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[99, 1])
    assert any("low < high" in p for p in reversed_.problems())


def test_segmentation_context_is_for_validation_datasets_and_not_negative(data):
    context = dataset(data, name="validate_0", segmentation_context=[0, 64, 64])
    ok, _ = split([dataset(data)], [context]).verify()
    assert ok
    plain = split([dataset(data)], [dataset(data, name="validate_0")])
    with_context = split([dataset(data)], [context])
    # a validation field, hashed only when set: existing validations keep their hash
    assert with_context.stage_hash("validate") != plain.stage_hash("validate")
    assert with_context.stage_hash("train") == plain.stage_hash("train")
    ok, message = split([dataset(data, segmentation_context=[0, 8, 8])]).verify()
    assert not ok and "train_configs[0].segmentation_context: only validation" in message
    ok, message = dataset(data, segmentation_context=[0, -8, 8]).verify()
    assert not ok and "segmentation_context: [0, -8, 8] must not be negative" in message
