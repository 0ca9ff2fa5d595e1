import json

import pytest
from funlib.geometry import Roi

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.predictions import PredictionTarget
from dacapo_flow.config.tasks import DistanceTaskConfig
from dacapo_flow.factory import create_task
from dacapo_flow.predict.plan import Plan, SegmentationSpec
from dacapo_flow.predict.prepare import make_plan, prepare, read_best, segmentation_spec
from dacapo_flow.store.best_record import BestRecord
from dacapo_flow.store.weights import Weights, load_checkpoint, save_checkpoint
from helpers_predict import target_dict, write_model, write_raw


@pytest.fixture(scope="module")
def files(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("prepare")
    found = write_model(root / "store", data, "distance")
    found["raw"] = write_raw(root / "raw.zarr")
    found["config"] = load_run_config(found["run_config"], verify=False)
    return found


def target(files, **fields):
    return PredictionTarget.model_validate(
        target_dict("t", files["run"].name, "distance", files["raw"], **fields)
    )


def plan_for(files, tmp_path, **fields):
    return make_plan(
        files["config"], files["weights"], files["best"], target(files, **fields), tmp_path / "z"
    )


def test_plan_of_a_distance_model(files, tmp_path):
    plan = prepare(
        files["config"],
        files["weights"],
        files["best"],
        target(files, outputs=["prediction", "segmentation"]),
        tmp_path / "out.zarr",
        tmp_path / "prepared.json",
    )
    assert Plan.read(tmp_path / "prepared.json") == plan
    assert plan.channels == ["nucleus", "mito"] and plan.value_range == [-1.0, 1.0]
    assert plan.segmentation.mode == "distance" and plan.segmentation.channels == 2
    assert plan.segmentation.parameters == {"threshold": 0.0}
    assert plan.raw_range == [0.0, 255.0] and plan.weights["iteration"] == 4
    assert (tmp_path / "out.zarr" / "fragments").is_dir()
    semantic = plan_for(files, tmp_path, outputs=["prediction", "segmentation"], instances=False)
    assert semantic.segmentation.mode == "semantic"
    assert semantic.segmentation_hash != plan.segmentation_hash
    assert semantic.prediction_hash == plan.prediction_hash


def test_mismatches_are_named(files, tmp_path):
    with pytest.raises(ConfigError, match="criterion is 'nucleus__dice', expected 'x'"):
        read_best(files["best"], target(files, criterion="x"))
    with pytest.raises(ConfigError, match="not inside"):
        plan_for(files, tmp_path, roi={"offset": [0, 0, 0], "shape": [400, 40, 40]})
    with pytest.raises(ConfigError, match="does not fit the network"):
        plan_for(files, tmp_path, block_shape=[13, 12, 12])


def test_foreign_weights_are_refused(files, tmp_path):
    weights = load_checkpoint(files["weights"])
    save_checkpoint(
        Weights(weights.model, None, iteration=4, head_labels=["a", "b"]), tmp_path / "w.pt"
    )
    with pytest.raises(ConfigError, match="head labels"):
        make_plan(files["config"], tmp_path / "w.pt", files["best"], target(files), tmp_path)
    best = json.loads(files["best"].read_text())
    (tmp_path / "b.json").write_text(json.dumps({**best, "iteration": 8}))
    with pytest.raises(ConfigError, match="iteration 4, best JSON .* names iteration 8"):
        make_plan(files["config"], files["weights"], tmp_path / "b.json", target(files), tmp_path)


def test_the_selected_post_processing_decides_how_blocks_are_segmented(files):
    config = DistanceTaskConfig(
        channels=["nucleus", "mito"],
        post_processing={
            "threshold": {"thresholds": [0.0]},
            "seeded_watershed": {"thresholds": [0.0], "seed_distances": [40.0]},
            "min_sizes": [0, 20],
        },
    )
    task = create_task(config, files["config"].datasplit_config.label_ids)

    def spec(parameters, instances=True):
        best = BestRecord(iteration=4, parameters=parameters, dataset="validate_0", criterion="c")
        return segmentation_spec(task, target(files, instances=instances), best, "best.json")

    threshold = {"threshold": 0.0, "min_size": 0}
    seeded = {"threshold": 0.0, "seed_distance": 40.0, "min_size": 0}
    assert (spec(threshold).mode, spec(threshold).dtype) == ("distance", "uint64")
    assert spec(seeded) == SegmentationSpec("seeded", seeded, 2, "uint64")
    # A minimum size is applied by the merge, blockwise.
    assert spec({**threshold, "min_size": 20}) == SegmentationSpec(
        "distance", {**threshold, "min_size": 20}, 2, "uint64"
    )
    # A semantic output is the 0/1 mask: seeds do not change it, a minimum size does.
    semantic = spec(seeded, instances=False)
    assert (semantic.mode, semantic.parameters, semantic.dtype) == (
        "semantic",
        {"threshold": 0.0},
        "uint8",
    )
    # With a minimum size it is the mask of the objects kept, segmented blockwise.
    assert spec({**seeded, "min_size": 20}, instances=False) == SegmentationSpec(
        "seeded", {**seeded, "min_size": 20}, 2, "uint8"
    )
    assert spec({**threshold, "min_size": 20}, instances=False) == SegmentationSpec(
        "distance", {**threshold, "min_size": 20}, 2, "uint8"
    )
    with pytest.raises(ConfigError, match="do not fit the task's post-processing grid"):
        spec({"bias": 0.5})


def test_a_selected_mutex_watershed_is_segmented_blockwise(files):
    from dacapo_flow.config.tasks import AffinitiesTaskConfig
    from dacapo_flow.predict.plan import SegmentationSpec

    neighborhood = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 3]]
    config = AffinitiesTaskConfig(
        neighborhood=neighborhood,
        post_processing={
            "threshold": {"thresholds": [0.5]},
            "mws": {"biases": [0.5]},
            "min_sizes": [0, 20],
        },
    )
    task = create_task(config, files["config"].datasplit_config.label_ids)

    def spec(parameters):
        best = BestRecord(iteration=4, parameters=parameters, dataset="validate_0", criterion="c")
        return segmentation_spec(task, target(files), best, "best.json")

    mws = {"bias": 0.5, "min_size": 20}
    assert spec(mws) == SegmentationSpec("mws_exact", mws, 1, "uint64", neighborhood)
    # Threshold + components keeps its spec (and so its hash: no block is redone).
    threshold = {"threshold": 0.5, "min_size": 0}
    assert spec(threshold) == SegmentationSpec("affinities", threshold, 1, "uint64", neighborhood)
    assert spec({**threshold, "min_size": 20}).mode == "affinities"


def test_a_roi_off_the_networks_pooling_grid_grows_to_it(files, tmp_path, caplog):
    # The tiny U-Net downsamples 2x (8 world units): blocks start on the raw array's offset
    # plus whole steps of that, as validation's do, so both predict every voxel alike.
    roi = {"offset": [44, 12, 80], "shape": [100, 100, 96]}
    with caplog.at_level("INFO"):
        plan = plan_for(files, tmp_path, roi=roi)
    assert plan.roi == Roi((40, 8, 80), (104, 104, 96))
    assert "starts (4, 4, 0) world units before its configured" in caplog.text
    on_grid = {"offset": [56, 16, 96], "shape": [64, 64, 64]}
    assert plan_for(files, tmp_path, roi=on_grid).roi == Roi((56, 16, 96), (64, 64, 64))
