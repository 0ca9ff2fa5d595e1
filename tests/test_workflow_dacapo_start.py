"""A finetune through Snakemake from a real DaCapo 0.3.5 store (`shared/reference/dacapo-parity`):
the network imported from DaCapo's stored run config, the pickled DaCapo checkpoint read with
weights_only and an allow-listed stand-in, the head matched by label."""

import shutil
from pathlib import Path

import pytest
import torch

from dacapo_flow.interop.dacapo_checkpoint import read_model_weights
from dacapo_flow.interop.dacapo_config import import_dacapo_run
from dacapo_flow.layout import Layout
from workflow_support import (
    STORE,
    dry_run,
    install_workflow,
    run_snakemake,
    tiny_run_config,
    tiny_workflow_config,
)

pytestmark = pytest.mark.workflow
PARITY = Path(__file__).resolve().parents[2] / "shared/reference/dacapo-parity/store"
RUN = "peer_bench_stock2"


@pytest.fixture
def dacapo_store(tmp_path):
    if not PARITY.is_dir():
        pytest.skip(f"the DaCapo parity store is not at {PARITY} (../shared beside the repo)")
    return Path(shutil.copytree(PARITY, tmp_path / "dacapo store"))


def test_a_finetune_from_a_dacapo_run_trains_through_snakemake(dacapo_store, tmp_path):
    imported, untranslated = import_dacapo_run(dacapo_store, RUN)
    assert imported["task_config"]["channels"] == ["fg"]
    run = tiny_run_config("distance")
    run.update(
        name="from_dacapo",
        num_iterations=1,
        validation_interval=1,
        select_criteria=["mito__dice"],
        # DaCapo's network at a smaller (valid) input: its 76^3 would exceed the 64^3 raw, and
        # the weights do not depend on the input shape.
        architecture_config=imported["architecture_config"]
        | {"input_shape": [60] * 3, "eval_shape_increase": [8] * 3},
        start_config={"runs_base_dir": str(dacapo_store), "run": RUN, "iteration": 100},
    )
    run["task_config"]["channels"] = ["mito", "fg"]  # DaCapo's head is [fg]
    run["datasplit_config"]["label_ids"] = {"mito": [1], "fg": "nonzero"}
    run["trainer_config"].update(learning_rate=1e-12, augments=[])  # one step moves nothing
    config = tiny_workflow_config()
    config["runs"] = [{"config": "config/runs/from_dacapo.yaml"}]
    workdir = install_workflow(tmp_path / "work", runs={"from_dacapo": run}, config=config)

    checkpoint = dacapo_store / RUN / "checkpoints" / "iterations" / "100"
    (first,) = dry_run(workdir).check().select("train_chunk")
    assert str(checkpoint) in first.input  # Snakemake sees a change to the DaCapo file
    run_snakemake(workdir).check()

    log = (workdir / Layout(STORE).log("from_dacapo", "train_chunk", 1)).read_text()
    assert "head matched ['fg'] -> ['mito', 'fg']" in log, log
    dacapo = read_model_weights(checkpoint).model
    tuned = torch.load(workdir / Layout(STORE).checkpoint("from_dacapo", 1), weights_only=True)
    for key, value in tuned["model"].items():
        if key.startswith(("prediction_head.", "chain.1.")):
            torch.testing.assert_close(value[1], dacapo[key][0], rtol=0, atol=1e-6)
        else:
            torch.testing.assert_close(value, dacapo[key], rtol=0, atol=1e-6)
    print(f"untranslated DaCapo keys: {untranslated}")
