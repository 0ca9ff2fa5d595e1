"""The prediction subcommands end to end, as the workflow calls them: a tiny untrained model
(real torch on the CPU), real zarr, two shards, a killed shard resumed, a corrupt and a
missing block caught, and a changed config redoing every block."""

import argparse

import numpy as np
import pytest
import yaml

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.data.arrays import open_array
from dacapo_flow.layout import PredictionPaths, manifest_path
from dacapo_flow.predict import shard as shard_module
from dacapo_flow.predict.cli import STOPPED, add_parsers
from dacapo_flow.predict.plan import Plan
from dacapo_flow.predict.prepare import build_task
from dacapo_flow.predict.segment import whole_volume_segmentation
from dacapo_flow.predict.verify import VerificationError
from dacapo_flow.store.best_record import BestRecord
from dacapo_flow.tasks.instance_metrics import adapted_rand_error
from helpers_predict import read_json, same_up_to_renaming, target_dict, write_model, write_raw

pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*argv):
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    args.func(args)


@pytest.fixture
def setup(tmp_path, data):
    model = write_model(tmp_path / "store", data, "affinities")
    raw = write_raw(tmp_path / "raw.zarr")
    paths = PredictionPaths(tmp_path / "store" / "predictions" / "aff")
    return model, raw, paths


@pytest.fixture
def computed(monkeypatch):
    """Block ids the network ran on (the real compute, counted)."""
    blocks = []
    real = shard_module.BlockPredictor.compute

    def counting(self, raw):
        blocks.append(raw.shape)
        return real(self, raw)

    monkeypatch.setattr(shard_module.BlockPredictor, "compute", counting)
    return blocks


def run_args(model):
    return ["--run-config", model["run_config"]]


def prepare(model, paths, target):
    import json

    cli(
        "predict-prepare",
        *run_args(model),
        "--weights",
        model["weights"],
        "--best",
        model["best"],
        "--target-json",
        json.dumps(target),
        "--zarr",
        paths.zarr,
        "--out",
        paths.prepared,
    )
    return Plan.read(paths.prepared)


def predict(model, paths, shard, shards, *extra):
    cli(
        "predict-shard",
        "--prepared",
        paths.prepared,
        *run_args(model),
        "--weights",
        model["weights"],
        "--shard",
        shard,
        "--shards",
        shards,
        "--out",
        paths.shard("predict", shard),
        "--device",
        "cpu",
        *extra,
    )


def segment_and_relabel(model, paths, shards):
    predictions = paths.shards("predict", shards)
    for i in range(shards):
        cli(
            "segment-shard",
            "--prepared",
            paths.prepared,
            *run_args(model),
            "--shard",
            i,
            "--shards",
            shards,
            "--records",
            paths.records,
            "--out",
            paths.shard("segment", i),
            "--predictions",
            *predictions,
        )
    cli(
        "segment-merge",
        "--prepared",
        paths.prepared,
        "--segments",
        *paths.shards("segment", shards),
        "--lut",
        paths.lut,
        "--out",
        paths.merge,
    )
    for i in range(shards):
        cli(
            "relabel-shard",
            "--prepared",
            paths.prepared,
            "--merge",
            paths.merge,
            "--lut",
            paths.lut,
            "--shard",
            i,
            "--shards",
            shards,
            "--out",
            paths.shard("relabel", i),
        )


def verify(paths, shards):
    cli(
        "predict-verify",
        "--prepared",
        paths.prepared,
        "--predictions",
        *paths.shards("predict", shards),
        "--relabels",
        *paths.shards("relabel", shards),
        "--out",
        paths.verified,
    )


def test_end_to_end_with_a_killed_shard(setup, computed):
    model, raw, paths = setup
    target = target_dict(
        "aff", model["run"].name, "affinities", raw, outputs=["prediction", "segmentation"]
    )
    target["shards"] = 2
    plan = prepare(model, paths, target)
    blocks_of_shard0 = len(range(0, plan.grid.num_blocks, 2))

    # Shard 0 "killed" after 3 blocks: no shard JSON, 3 blocks in its manifest.
    with pytest.raises(SystemExit) as stop:
        predict(model, paths, 0, 2, "--max-blocks", 3)
    assert stop.value.code == STOPPED
    assert not _exists(paths.shard("predict", 0))
    assert len(read_json(manifest_path(paths.shard("predict", 0)))["blocks"]) == 3
    # The rerun computes only the rest.
    predict(model, paths, 0, 2)
    assert len(computed) == blocks_of_shard0
    predict(model, paths, 1, 2)
    shard0 = read_json(paths.shard("predict", 0))
    assert sorted(map(int, shard0["blocks"])) == list(range(0, plan.grid.num_blocks, 2))
    assert shard0["config_hash"] == plan.config_key("predict")

    segment_and_relabel(model, paths, 2)
    verify(paths, 2)
    assert read_json(paths.verified)["blocks"] == plan.grid.num_blocks

    # What was written: OME-Zarr in register with the raw, segmentation as in memory.
    prediction = open_array(paths.zarr, "prediction/s0")
    raw_array = open_array(raw, "raw")
    assert prediction.voxel_size == raw_array.voxel_size
    assert prediction.roi == raw_array.roi and prediction.num_channels == 3
    stored = prediction.read(prediction.roi)
    task = build_task(model["run"].config)
    expected = whole_volume_segmentation(task, stored, plan.segmentation)
    segmentation = open_array(paths.zarr, "prediction/labels/segmentation/s0").read(prediction.roi)
    assert same_up_to_renaming(segmentation, expected)

    # A rerun of a finished shard computes nothing.
    computed.clear()
    predict(model, paths, 1, 2)
    assert computed == []


def test_verify_names_missing_and_corrupt_blocks(setup):
    model, raw, paths = setup
    target = target_dict("aff", model["run"].name, "affinities", raw)
    plan = prepare(model, paths, target)
    predict(model, paths, 0, 1)
    cli(
        "predict-verify",
        "--prepared",
        paths.prepared,
        "--predictions",
        paths.shard("predict", 0),
        "--out",
        paths.verified,
    )
    # Corrupt block 5's chunk.
    array = open_array(paths.zarr, "prediction/s0")
    roi = plan.grid.write_roi(5)
    array.write(roi, np.zeros_like(array.read(roi)))
    with pytest.raises(VerificationError, match=r"differ from the shard checksums: \[5\]"):
        verify_prediction(paths)
    # Drop two blocks from the shard JSON: they are missing.
    shard = read_json(paths.shard("predict", 0))
    del shard["blocks"]["2"], shard["blocks"]["7"]
    from dacapo_flow.store.atomic import atomic_write_json

    atomic_write_json(paths.shard("predict", 0), shard)
    with pytest.raises(VerificationError, match=r"missing blocks \[2, 7\]"):
        verify_prediction(paths)


def verify_prediction(paths):
    cli(
        "predict-verify",
        "--prepared",
        paths.prepared,
        "--predictions",
        paths.shard("predict", 0),
        "--out",
        paths.verified,
    )


def test_a_changed_config_redoes_every_block(setup, computed):
    model, raw, paths = setup
    target = target_dict("aff", model["run"].name, "affinities", raw)
    plan = prepare(model, paths, target)
    predict(model, paths, 0, 1)
    assert len(computed) == plan.grid.num_blocks

    # The same config again (prepare rerun): arrays kept, nothing recomputed.
    computed.clear()
    again = prepare(model, paths, target)
    assert again.config_key("predict") == plan.config_key("predict")
    predict(model, paths, 0, 1)
    assert computed == []

    # Another dtype: every block again, and the old shard JSON no longer verifies.
    old_shard = read_json(paths.shard("predict", 0))
    changed = prepare(model, paths, {**target, "dtype": "uint8"})
    assert changed.prediction_hash != plan.prediction_hash
    with pytest.raises(VerificationError, match="written for config"):
        verify_prediction(paths)
    predict(model, paths, 0, 1)
    assert len(computed) == plan.grid.num_blocks
    assert read_json(paths.shard("predict", 0))["config_hash"] != old_shard["config_hash"]
    assert open_array(paths.zarr, "prediction/s0").dtype == np.uint8
    verify_prediction(paths)


def _exists(path) -> bool:
    from pathlib import Path

    return Path(path).exists()


def test_a_sectionwise_pyramid_end_to_end(tmp_path, data):
    """The CREMI case through the commands the rules run: a 2D network run section by section
    over 40 x 4 x 4 nm data with an odd number of sections and an even block (the last block
    one section thick). s1 halves y and x only, for the prediction and the segmentation."""
    from dacapo_flow.data.arrays import write_array
    from dacapo_flow.predict.output import downsample

    sections = {
        "input_shape": [20, 20],
        "downsample_factors": [[2, 2]],
        "eval_shape_increase": [8, 8],
        "section_axis": 0,
    }
    model = write_model(tmp_path / "store", data, "affinities", architecture_config=sections)
    raw = np.random.default_rng(2).integers(0, 256, (5, 24, 28), dtype=np.uint8)
    write_array(tmp_path / "raw.zarr", "raw", raw, (40, 4, 4), (0, 8, 0))
    paths = PredictionPaths(tmp_path / "store" / "predictions" / "cremi")
    target = target_dict(
        "cremi",
        model["run"].name,
        "affinities",
        tmp_path / "raw.zarr",
        outputs=["prediction", "segmentation"],
        pyramid=True,
        block_shape=[2, 12, 12],
        shards=2,
    )
    prepare(model, paths, target)
    for shard in range(2):
        predict(model, paths, shard, 2)
    segment_and_relabel(model, paths, 2)
    verify(paths, 2)
    outputs = read_json(paths.verified)["outputs"]
    segmentation = "prediction/labels/segmentation"
    assert outputs["segmentation"] == [f"{segmentation}/s0", f"{segmentation}/s1"]
    for group, labels in (("prediction", False), (segmentation, True)):
        s0, s1 = (open_array(paths.zarr, f"{group}/s{level}") for level in (0, 1))
        assert s1.voxel_size == (40, 8, 8) and s1.roi == s0.roi and s1.shape == (5, 12, 14)
        expected = downsample(s0.read(s0.roi), labels, (1, 2, 2))
        np.testing.assert_allclose(s1.read(s1.roi), expected, atol=1e-6)


def test_the_selected_mutex_watershed_and_min_size_segment_blockwise(setup):
    model, raw, paths = setup
    # The run validated a mutex watershed grid with minimum sizes, and this point won.
    config = yaml.safe_load(model["run_config"].read_text())
    config["task_config"].pop("thresholds", None)
    config["task_config"]["post_processing"] = {"mws": {"biases": [0.5]}, "min_sizes": [0, 5]}
    model["run_config"].write_text(yaml.safe_dump(config))
    selected = {"bias": 0.5, "min_size": 5}
    record = BestRecord.read(model["best"]).model_copy(update={"parameters": selected})
    record.write(model["best"])
    target = target_dict(
        "aff", model["run"].name, "affinities", raw, outputs=["prediction", "segmentation"]
    )
    target["shards"] = 2
    plan = prepare(model, paths, target)
    assert (plan.segmentation.mode, plan.segmentation.parameters) == ("mws_exact", selected)
    assert plan.grid.num_blocks > 1
    predict(model, paths, 0, 2)
    predict(model, paths, 1, 2)
    segment_and_relabel(model, paths, 2)
    verify(paths, 2)
    assert read_json(paths.merge)["fragments"] > 0

    prediction = open_array(paths.zarr, "prediction/s0")
    stored = prediction.read(prediction.roi)
    task = build_task(load_run_config(model["run_config"], verify=False))
    expected = task.post_process(stored, selected)[0]
    labels = open_array(paths.zarr, "prediction/labels/segmentation/s0")
    segmentation = labels.read(prediction.roi)[0]
    assert segmentation.any()
    _, sizes = np.unique(segmentation[segmentation > 0], return_counts=True)
    assert sizes.min() >= 5
    # The blockwise graph watershed is the voxel one (up to the order of equal edges).
    error = adapted_rand_error(segmentation, expected)
    print(f"adapted Rand error blockwise vs whole volume: {error:.4f}")
    assert same_up_to_renaming(segmentation[None], expected[None])
