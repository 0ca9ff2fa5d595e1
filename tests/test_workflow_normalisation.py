"""Raw normalised by percentiles: the range is computed once per dataset by its own job,
recorded in the run's store, and what training and validation read."""

import json

import pytest

from dacapo_flow.layout import Layout
from workflow_support import STORE, dry_run, install_workflow, run_snakemake, tiny_run_config

pytestmark = pytest.mark.workflow


def test_percentile_ranges_are_computed_once_and_recorded_in_the_store(tmp_path):
    run = tiny_run_config("distance")
    run.update(num_iterations=2, select_criteria=["mito__dice"])
    split = run["datasplit_config"]
    datasets = split["train_configs"] + split["validate_configs"]
    for dataset in datasets:
        dataset["raw"]["percentiles"] = [1.0, 99.0]
    workdir = install_workflow(tmp_path / "work", runs={"distance": run})
    plan = dry_run(workdir).check()
    names = sorted(d["name"] for d in datasets)
    assert sorted(job.wildcards["dataset"] for job in plan.select("normalisation")) == names
    (chunk,) = plan.select("train_chunk")
    (validate,) = plan.select("validate")
    layout = Layout(STORE)
    for dataset in split["train_configs"]:
        assert layout.normalisation("distance", dataset["name"]) in chunk.input
    assert validate.input[-1] == layout.normalisation("distance", "validate_0")

    run_snakemake(workdir).check()
    for name in names:
        record = json.loads((workdir / layout.normalisation("distance", name)).read_text())
        assert record["percentiles"] == [1.0, 99.0] and 0 <= record["min"] < record["max"]
    assert dry_run(workdir).check().jobs == []
