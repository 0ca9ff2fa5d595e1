"""The `export` rule in the real workflow: asking for an export of a selected model runs only
the export job, from the winning weights file, and writes a bioimage.io package and a
cellmap-flow script."""

import json
import zipfile

import pytest
import yaml

from dacapo_flow.layout import Layout
from workflow_support import STORE, dry_run, run_snakemake

pytestmark = pytest.mark.workflow


def test_an_export_entry_runs_only_the_export_from_the_winning_weights(completed_copy):
    config_path = completed_copy / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["exports"] = [{"run": "finetune", "dataset": "validate_0", "criterion": "mito__dice"}]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    plan = dry_run(completed_copy).check()
    assert plan.counts() == {("export", "finetune"): 1}, plan.describe()
    (job,) = plan.select("export")
    layout = Layout(STORE)
    assert job.rule == "export"
    assert layout.best_weights("finetune", "validate_0", "mito__dice") in job.input
    assert "--upstream distance" in job.shell

    run_snakemake(completed_copy).check()
    out = completed_copy / layout.export_dir("finetune", "validate_0", "mito__dice")
    with zipfile.ZipFile(out / "bioimageio.zip") as package:
        rdf = yaml.safe_load(package.read("rdf.yaml"))
    best = json.loads(
        (completed_copy / layout.best_record("finetune", "validate_0", "mito__dice")).read_text()
    )
    assert rdf["format_version"].startswith("0.5")
    provenance = json.dumps(rdf.get("config", {}))
    assert "finetune" in provenance and str(best["iteration"]) in provenance
    assert (out / "cellmap_flow.py").is_file()
