import re

import pytest

from dacapo_flow.layout import (
    RUN_REGEX,
    Layout,
    component,
    iteration_name,
    iteration_of,
    manifest_path,
)

LAYOUT = Layout("results/my store/")


def test_the_store_layout_of_design_section_4():
    assert LAYOUT.checkpoint("run", 100) == "results/my store/run/checkpoints/iterations/100"
    assert (
        LAYOUT.best_record("run", "val", "mito__dice") == "results/my store/run/val/mito__dice.json"
    )
    assert (
        LAYOUT.best_weights("run", "val", "mito__dice") == "results/my store/run/val/mito__dice.pt"
    )
    assert LAYOUT.chunk_stats("run", "7") == "results/my store/run/training_stats/7.nc"
    assert LAYOUT.checkpoint_scores("run", 7) == "results/my store/run/validation_scores/7.nc"
    assert LAYOUT.log("run", "validate", 7) == "results/my store/run/logs/validate/7.log"
    assert (
        LAYOUT.prediction("em").shard("predict", 2).endswith("predictions/em/shards/predict_2.json")
    )
    assert LAYOUT.leaderboard("val", "voi", "csv").endswith("report/leaderboard/val/voi.csv")


def test_rule_patterns_keep_their_wildcards():
    assert LAYOUT.checkpoint("{run}", "{iteration}").endswith(
        "{run}/checkpoints/iterations/{iteration}"
    )


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\0b"])
def test_names_that_would_escape_or_nest_are_refused(name):
    with pytest.raises(ValueError, match="cannot be used as a file name"):
        component(name)


@pytest.mark.parametrize("iteration", [-1, 1.5, True, "1e3", "٣"])
def test_iterations_are_non_negative_integers(iteration):
    with pytest.raises(ValueError):
        iteration_name(iteration)


def test_iteration_of_reads_per_iteration_files():
    assert iteration_of("x/checkpoints/iterations/300") == 300
    assert iteration_of("x/training_stats/20.nc") == 20


def test_a_run_wildcard_never_matches_the_stores_own_directories():
    pattern = re.compile(rf"store/(?P<run>{RUN_REGEX})/x")
    assert pattern.fullmatch("store/distance/x")
    assert not pattern.fullmatch("store/predictions/x")
    assert not pattern.fullmatch("store/report/x")
    assert pattern.fullmatch("store/reports/x")


def test_a_dataset_wildcard_never_matches_a_runs_own_directories():
    from dacapo_flow.layout import DATASET_REGEX

    pattern = re.compile(rf"run/(?P<dataset>{DATASET_REGEX})/c\.json")
    assert pattern.fullmatch("run/validate_0/c.json")
    assert not pattern.fullmatch("run/normalisation/c.json")
    assert not pattern.fullmatch("run/logs/c.json")


def test_prediction_files_live_in_the_target_directory():
    paths = Layout("store").prediction("em")
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


def test_the_readme_store_listing_names_every_part_of_the_layout():
    from pathlib import Path

    from dacapo_flow import layout

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    listing = readme.split("## The store", 1)[1].split("```")[1]
    # <store>/<run>/exports/..., <store>/predictions/... -> the part below <store> or <run>
    parts = set(
        re.findall(r"^\s+<store>/(?:<run>/)?([\w.]+|<dataset>)", layout.__doc__, re.MULTILINE)
    )
    assert {"exports", "sweep.json", "tmp", "predictions", "report"} <= parts
    for part in parts:
        assert re.search(rf"<store>/(<run>/)?{re.escape(part)}(?![\w.])", listing), part
