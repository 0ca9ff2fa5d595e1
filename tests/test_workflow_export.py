"""The `export` rule in the real workflow: asking for an export of a selected model runs only
the export job, from the winning weights file, and writes a bioimage.io package and a
cellmap-flow script. For a plain run and for a run normalised by percentiles, the packaged
model computes on a real crop what the workflow's own prediction of that crop holds."""

import importlib.util
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
import yaml
from funlib.geometry import Roi

from dacapo_flow.data.arrays import open_array
from dacapo_flow.layout import Layout
from workflow_support import STORE, dry_run, run_snakemake, tiny_run_config, write_run_config

pytestmark = pytest.mark.workflow
LAYOUT = Layout(STORE)
RAW = {"path": "data/synthetic/validate_0.zarr", "dataset": "raw"}
PERCENTILES = [1.0, 99.0]
CRITERION = "mito__dice"


def test_an_export_entry_runs_only_the_export_from_the_winning_weights(completed_copy):
    config_path = completed_copy / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["exports"] = [{"run": "finetune", "dataset": "validate_0", "criterion": CRITERION}]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    plan = dry_run(completed_copy).check()
    assert plan.counts() == {("export", "finetune"): 1}, plan.describe()
    (job,) = plan.select("export")
    assert job.rule == "export"
    assert LAYOUT.best_weights("finetune", "validate_0", CRITERION) in job.input
    assert "--upstream distance" in job.shell

    run_snakemake(completed_copy).check()
    out = completed_copy / LAYOUT.export_dir("finetune", "validate_0", CRITERION)
    with zipfile.ZipFile(out / "bioimageio.zip") as package:
        rdf = yaml.safe_load(package.read("rdf.yaml"))
    best = json.loads(
        (completed_copy / LAYOUT.best_record("finetune", "validate_0", CRITERION)).read_text()
    )
    assert rdf["format_version"].startswith("0.5")
    provenance = json.dumps(rdf.get("config", {}))
    assert "finetune" in provenance and str(best["iteration"]) in provenance
    assert (out / "cellmap_flow.py").is_file()


@pytest.fixture(scope="module")
def exported(completed_workflow, tmp_path_factory):
    """The completed tiny workflow plus a run normalised by percentiles; `distance` (plain)
    and that run exported, and each predicted over the validation raw by the workflow."""
    workdir = tmp_path_factory.mktemp("exported") / "work"
    shutil.copytree(completed_workflow, workdir, symlinks=True)
    run = tiny_run_config("distance")
    run.update(name="percentile", select_criteria=[CRITERION])
    split = run["datasplit_config"]
    for dataset in split["train_configs"] + split["validate_configs"]:
        dataset["raw"]["percentiles"] = PERCENTILES
    write_run_config(workdir, "percentile", run)
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["runs"].append({"config": "config/runs/percentile.yaml"})
    entry = {"dataset": "validate_0", "criterion": CRITERION}
    config["exports"] = [
        {"run": "distance", **entry},
        {"run": "percentile", **entry, "author": "A. Person", "license": "MIT"},
    ]
    target = {"criterion": CRITERION, "dataset": "validate_0", "dtype": "float32"}
    config["predictions"] = [
        {"name": "distance_all", "run": "distance", "input": RAW, **target},
        {
            "name": "percentile_all",
            "run": "percentile",
            "input": {**RAW, "percentiles": PERCENTILES},
            **target,
        },
    ]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = dry_run(workdir).check()
    run_snakemake(workdir).check()
    return workdir, plan


def test_a_plain_run_exports_without_upstream_and_a_percentile_run_from_its_record(exported):
    _, plan = exported
    jobs = {job.wildcards["run"]: job for job in plan.select("export")}
    assert sorted(jobs) == ["distance", "percentile"]
    assert "--upstream" not in jobs["distance"].shell
    assert "--normalisation" not in jobs["distance"].shell
    assert "--license CC-BY-4.0" in jobs["distance"].shell
    record = LAYOUT.normalisation("percentile", "validate_0")
    assert record in jobs["percentile"].input
    assert f"--normalisation {record}" in jobs["percentile"].shell
    assert "--author 'A. Person' --license MIT" in jobs["percentile"].shell


def _package(workdir, run):
    out = workdir / LAYOUT.export_dir(run, "validate_0", CRITERION)
    with zipfile.ZipFile(out / "bioimageio.zip") as package:
        rdf = yaml.safe_load(package.read("rdf.yaml"))
        test_input = np.load(package.open("test_input.npy"))
        test_output = np.load(package.open("test_output.npy"))
    return out, rdf, test_input, test_output


@pytest.mark.parametrize("run", ["distance", "percentile"])
def test_the_packaged_model_computes_the_workflows_prediction_of_a_real_crop(exported, run):
    core = pytest.importorskip("bioimageio.core")
    workdir, _ = exported
    out, rdf, test_input, test_output = _package(workdir, run)
    facts = rdf["config"]["dacapo_flow"]
    crop = facts["test_crop"]
    raw = open_array(workdir / RAW["path"], RAW["dataset"])
    input_roi = Roi(crop["input_offset"], crop["input_shape"])
    assert raw.roi.contains(input_roi)
    np.testing.assert_array_equal(test_input[0, 0], raw.read(input_roi).astype(np.float32))
    assert test_output.std() > 0

    predicted = open_array(workdir / LAYOUT.prediction(f"{run}_all").zarr, "prediction/s0")
    expected = predicted.read(Roi(crop["output_offset"], crop["output_shape"]))
    packaged = core.predict(model=out / "bioimageio.zip", inputs=test_input)
    output = packaged.members["prediction"].data.values[0]
    assert output.shape == expected.shape
    assert np.abs(output - expected).max() <= 1e-5

    # The cellmap-flow script, on the same raw intensities.
    spec = importlib.util.spec_from_file_location(f"{run}_flow", out / "cellmap_flow.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with torch.no_grad():
        flow = script.model(torch.from_numpy(test_input)).numpy()[0]
    assert np.abs(flow - expected).max() <= 1e-5

    low, high = facts["raw_range"]
    if run == "percentile":
        record = json.loads((workdir / LAYOUT.normalisation(run, "validate_0")).read_text())
        assert (low, high) == (record["min"], record["max"]) != (0.0, 255.0)
        assert facts["normalisation"]["percentiles"] == PERCENTILES
        assert rdf["authors"] == [{"name": "A. Person"}] and rdf["license"] == "MIT"
    else:
        assert (low, high) == (0.0, 255.0)  # uint8 raw without min/max: the dtype range
