import pytest

from dacapo_flow.layout import Layout
from dacapo_flow.predict.paths import PredictionPaths, manifest_path


def test_paths_live_in_the_target_directory():
    paths = PredictionPaths(Layout("store").prediction_dir("em"))
    assert paths.prepared == "store/predictions/em/prepared.json"
    assert paths.zarr == "store/predictions/em/output.zarr"
    assert paths.shards("predict", 2) == [
        "store/predictions/em/shards/predict_0.json",
        "store/predictions/em/shards/predict_1.json",
    ]
    assert paths.shard("relabel", "{shard}") == "store/predictions/em/shards/relabel_{shard}.json"
    assert paths.log("predict_shard", 3) == "store/predictions/em/logs/predict_shard_3.log"
    with pytest.raises(ValueError):
        paths.shard("train", 0)


def test_manifest_sits_beside_the_shard_json():
    assert manifest_path("a/predict_0.json") == "a/predict_0.progress.json"
