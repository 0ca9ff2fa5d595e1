"""Light jobs (collecting scores, selecting the best checkpoint, the report) never import torch:
each would otherwise pay seconds of start-up for nothing. Here they run for real under
Snakemake with a `dacapo-flow` on PATH in which `import torch` fails."""

import os
import shutil
import sys
from collections import Counter

import pytest
import yaml

from dacapo_flow.layout import Layout
from workflow_support import (
    NO_TORCH,
    REPORT_RULES,
    STORE,
    dry_run,
    run_snakemake,
    snakemake_env,
)

pytestmark = pytest.mark.workflow

# The validation picture runs the winning network over a slab: not a light job.
LIGHT_RULES = ("collect_scores", "select_best", *sorted(set(REPORT_RULES) - {"validation_picture"}))


def torchless_env(tmp_path) -> dict:
    """Snakemake's environment with a `dacapo-flow` first on PATH that cannot import torch."""
    bin_dir = tmp_path / "torchless_bin"
    bin_dir.mkdir()
    shim = bin_dir / "dacapo-flow"
    # The validation picture runs the winning network: the one report job allowed torch.
    shim.write_text(
        f"#!{sys.executable}\nimport sys\nheavy = sys.argv[1:2] == ['report-validation-picture']\n"
        f"if not heavy:\n" + "".join(f"    {line}\n" for line in NO_TORCH.splitlines()) + "\n"
        "from dacapo_flow.cli import main\n\n"
        "status = main()\n"
        "assert heavy or 'torch' not in sys.modules\n"
        "sys.exit(status)\n"
    )
    shim.chmod(0o755)
    env = snakemake_env()
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])
    return env


def test_light_jobs_run_without_torch(completed_copy, tmp_path):
    # Without the finetune, whose training starts from distance's winning weights: a rerun
    # selection would rightly retrain it.
    config_file = completed_copy / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["runs"] = [r for r in config["runs"] if "finetune" not in r["config"]]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    layout = Layout(completed_copy / STORE)
    best = layout.best_weights("distance", "validate_0", "mito__dice")
    before = os.stat(best).st_mtime_ns

    result = run_snakemake(
        completed_copy, "--forcerun", *LIGHT_RULES, env=torchless_env(tmp_path)
    ).check()
    ran = Counter(job.rule for job in result.jobs)
    assert set(ran) <= {*LIGHT_RULES, "validation_picture", "all", "report_outputs"}, (
        result.describe()
    )
    assert ran["select_best"] == 3 and ran["collect_scores"] == 2, result.describe()
    assert os.stat(best).st_mtime_ns > before  # really selected again, from the model file
    assert dry_run(completed_copy).check().jobs == []


def test_a_store_without_model_files_is_up_to_date_and_still_selects(completed_copy):
    """A store written before checkpoints had model files beside them: nothing is planned,
    and a selection run again reads its checkpoint with torch instead."""
    store = completed_copy / STORE
    for model_dir in store.glob("*/checkpoints/model"):
        shutil.rmtree(model_dir)
    assert dry_run(completed_copy).check().jobs == []
    layout = Layout(STORE)
    best = layout.best_weights("affinities", "validate_0", "voi")
    before = os.stat(completed_copy / best).st_mtime_ns
    result = run_snakemake(completed_copy, best, "--forcerun", "select_best").check()
    assert [job.rule for job in result.jobs] == ["select_best"], result.describe()
    assert os.stat(completed_copy / best).st_mtime_ns > before
    log = completed_copy / layout.log("affinities", "select_best", "validate_0", "voi")
    assert "no model file beside it" in log.read_text()
