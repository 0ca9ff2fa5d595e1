"""The prediction target model (`predictions:` entries): values, hashes, files."""

import pytest
from pydantic import ValidationError

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.predictions import load_target, resolve_dataset
from helpers_predict import TARGET_BASE, prediction_target
from helpers_tiny import write_yaml


def test_defaults_and_strictness():
    t = prediction_target()
    assert t.outputs == ["prediction"] and t.shards == 1 and t.dtype == "float32"
    assert t.verify()[0]
    with pytest.raises(ValidationError):
        prediction_target(colour="red")
    with pytest.raises(ValidationError):
        prediction_target(shards=0)
    with pytest.raises(ValidationError):
        prediction_target(outputs=["mesh"])


def test_problems():
    assert "list 'prediction' too" in prediction_target(outputs=["segmentation"]).verify()[1]
    assert "twice" in prediction_target(outputs=["prediction", "prediction"]).verify()[1]
    assert "positive" in prediction_target(block_shape=[0, 4, 4]).verify()[1]
    bad_roi = prediction_target(roi={"offset": [0, 0], "shape": [4, 4, 4]}).verify()[1]
    assert bad_roi.startswith("roi.") and "differ in length" in bad_roi


def test_hashes_cover_what_changes_the_prediction():
    t = prediction_target()
    assert t.prediction_hash() == prediction_target(shards=8, name="other").prediction_hash()
    assert (
        t.prediction_hash()
        == prediction_target(outputs=["prediction", "segmentation"]).prediction_hash()
    )
    assert t.prediction_hash() != prediction_target(dtype="uint8").prediction_hash()
    assert t.prediction_hash() != prediction_target(criterion="voi_split").prediction_hash()
    assert t.segmentation_hash() != prediction_target(instances=False).segmentation_hash()
    assert t.prediction_hash() == prediction_target(instances=False).prediction_hash()


def test_resolve_dataset():
    assert resolve_dataset(prediction_target(), ["validate_0"]) == "validate_0"
    with pytest.raises(ConfigError, match="name one"):
        resolve_dataset(prediction_target(), ["a", "b"])
    assert resolve_dataset(prediction_target(dataset="b"), ["a", "b"]) == "b"
    with pytest.raises(ConfigError, match="not a validation dataset"):
        resolve_dataset(prediction_target(dataset="c"), ["a", "b"])


def test_load_target_from_a_file(tmp_path):
    single = write_yaml(tmp_path / "t.yaml", TARGET_BASE)
    assert load_target(single).name == "em"
    many = write_yaml(
        tmp_path / "m.yaml", {"predictions": [TARGET_BASE, {**TARGET_BASE, "name": "b"}]}
    )
    assert load_target(many, "b").name == "b"
    with pytest.raises(ConfigError, match="no single entry"):
        load_target(many, "c")
    broken = write_yaml(tmp_path / "x.yaml", {**TARGET_BASE, "shards": -1})
    with pytest.raises(ConfigError, match=r"x.yaml: shards"):
        load_target(broken)
