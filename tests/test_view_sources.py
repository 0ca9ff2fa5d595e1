"""What `dacapo-flow view` shows: a prediction target's arrays from its plan, a run's
validation arrays, and a clear error for anything else."""

import pytest
import yaml

from dacapo_flow.config.base import ConfigError
from dacapo_flow.view.sources import find_layers
from helpers_view import predicted_workdir


def test_a_target_shows_raw_prediction_and_segmentation(tmp_path, monkeypatch):
    workdir = predicted_workdir(tmp_path / "work")
    monkeypatch.chdir(workdir)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    layers = find_layers(config, "config/config.yaml", "hand")
    assert [(layer.name, layer.kind) for layer in layers] == [
        ("raw", "image"),
        ("prediction", "image"),
        ("segmentation", "segmentation"),
    ]
    prediction = layers[1]
    assert prediction.channels == ["c0", "c1", "c2"] and prediction.window == (0.0, 1.0)
    assert prediction.array.roi == layers[0].array.roi  # in register with the raw
    assert layers[2].array.dataset == "prediction/labels/segmentation/s0"


def test_a_target_not_predicted_yet_says_to_run_snakemake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"predictions": [{"name": "t", "run": "r", "criterion": "c", "input": {}}]}
    config["predictions"][0]["input"] = {"path": "raw.zarr", "dataset": "raw"}
    with pytest.raises(FileNotFoundError, match="prediction t has not been prepared.*snakemake"):
        find_layers(config, "config.yaml", "t")


def test_a_run_shows_its_validation_data(data, tmp_path, monkeypatch):
    from helpers_tiny import run_config_dict, write_yaml

    write_yaml(tmp_path / "r.yaml", run_config_dict(data, name="r"))
    config = {"store": "store", "runs": [{"config": str(tmp_path / "r.yaml")}]}
    layers = find_layers(config, "config.yaml", "r")
    assert [layer.name for layer in layers][:2] == ["validate_0 raw", "validate_0 ground truth"]
    with pytest.raises(ConfigError, match="'nope' is neither a prediction target"):
        find_layers(config, "config.yaml", "nope")
