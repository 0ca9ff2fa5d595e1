"""Upgrading Snakemake's records of jobs from before `run_config.yaml`: only a record that
matches the old rule for the same run is rewritten, exactly as the new rule records it."""

import base64
import json
from types import SimpleNamespace

from dacapo_flow.layout import Layout
from dacapo_flow.store.snakemake_records import (
    old_params,
    records,
    run_finder,
    upgrade_record,
    upgrade_records,
)

LAYOUT = Layout("results/store")
RUN = SimpleNamespace(name="d_rep1", source="config/runs/d.yaml", repetition=1, grid={"a": 2})
PLAN = {"d_rep1": RUN}
CHECKPOINT = LAYOUT.checkpoint("d_rep1", 4)
NEW = repr(LAYOUT.run_config("d_rep1"))


def write_record(metadata, output, record):
    name = base64.urlsafe_b64encode(output.encode()).decode()
    (metadata / name).write_text(json.dumps(record))
    return metadata / name


def chunk_record(**changes):
    params = ["''", "'c8f41003108e1243'", *old_params(RUN.source, 1, {"a": 2}, RUN.name, "x")]
    record = {"rule": "train_chunk", "input": ["data/synthetic/manifest.json"], "params": params}
    return record | changes


def test_old_params_are_the_reprs_snakemake_recorded():
    assert old_params("c.yaml", 0, {}, "r", "validate") == ["'c.yaml'", "0", "'{}'"]
    assert old_params("c.yaml", 0, {"b": 1, "a": 2}, "r", "predict_shard") == [
        "'c.yaml'",
        "0",
        '\'{"a": 2, "b": 1}\'',
        "'r'",
    ]


def test_a_matching_record_swaps_the_old_params_for_the_file_and_keeps_the_rest():
    upgraded = upgrade_record(chunk_record(), old_params(RUN.source, 1, {"a": 2}, "", ""), "p")
    assert upgraded["params"] == sorted(["''", "'c8f41003108e1243'", "'p'"])
    assert upgraded["input"] == ["data/synthetic/manifest.json"]
    assert upgrade_record(upgraded, ["'p'"], "p") is None  # already upgraded


def test_a_record_of_another_repetition_or_grid_point_is_left_to_rerun():
    other = old_params(RUN.source, 0, {"a": 2}, "", "")
    assert upgrade_record(chunk_record(), other, "p") is None
    other = old_params(RUN.source, 1, {"a": 3}, "", "")
    assert upgrade_record(chunk_record(), other, "p") is None


def test_upgrade_records_finds_runs_by_their_directory_or_prediction_target(tmp_path):
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    write_record(metadata, CHECKPOINT, chunk_record())
    prediction = f"{LAYOUT.prediction_dir('t')}/prepared.json"
    params = ["'h'", *old_params(RUN.source, 1, {"a": 2}, RUN.name, "predict_prepare")]
    write_record(metadata, prediction, {"rule": "predict_prepare", "input": [], "params": params})
    write_record(metadata, LAYOUT.checkpoint("gone", 2), chunk_record())  # not planned
    picture = LAYOUT.validation_picture("d_rep1", "v")
    write_record(metadata, picture, chunk_record(rule="validation_picture"))
    select = {"rule": "select_best", "input": [], "params": ["'x'"]}
    write_record(metadata, LAYOUT.best_record("d_rep1", "v", "c"), select)  # rule unchanged
    (metadata / "not base64 at all!").write_text("{}")

    find = run_finder(PLAN, LAYOUT, {"t": "d_rep1"})
    assert sorted(upgrade_records(find, metadata)) == sorted([CHECKPOINT, prediction, picture])
    assert upgrade_records(find, metadata) == []  # idempotent
    outputs = {output: path for path, output in records(metadata)}
    chunk = json.loads(outputs[CHECKPOINT].read_text())
    assert chunk["params"] == sorted(["''", "'c8f41003108e1243'", NEW])
    assert json.loads(outputs[prediction].read_text())["params"] == sorted(["'h'", NEW])
    assert json.loads(outputs[LAYOUT.best_record("d_rep1", "v", "c")].read_text()) == select


def test_a_long_output_path_split_over_directories_is_read_back(tmp_path):
    output = "results/store/" + "r" * 300 + "/x"
    b64 = base64.urlsafe_b64encode(output.encode()).decode()
    parts = [b64[i : i + 254] for i in range(0, len(b64), 254)]
    path = tmp_path.joinpath(*["@" + p for p in parts[:-1]], parts[-1])
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert list(records(tmp_path)) == [(path, output)]
