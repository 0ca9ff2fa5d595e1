"""workflow/rules/predict.smk, included by a minimal Snakefile that provides what common.smk
will (LAYOUT, PLAN, PREDICTIONS), runs for real: prepare, two shards of each pass, merge and
verify, with a `dacapo-flow` on PATH that knows only the prediction subcommands (the lead
wires them into the real CLI)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers_predict import read_json, target_dict, write_model, write_raw
from workflow_support import REPO_ROOT, parse_jobs, snakemake_env

pytestmark = pytest.mark.workflow

SNAKEFILE = """
from types import SimpleNamespace

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.layout import Layout
from dacapo_flow.predict.config import load_target

LAYOUT = Layout("store")
_run = load_run_config("{run_config}", verify=False)
PLAN = {{_run.name: SimpleNamespace(name=_run.name, source="{run_config}", repetition=0, config=_run)}}
PREDICTIONS = {{"em": load_target("targets.yaml", "em")}}


include: "{rules}"


rule all:
    input:
        predict_targets(),
"""

SHIM = """#!{python}
import argparse, logging
from dacapo_flow.predict.cli import add_parsers

parser = argparse.ArgumentParser(prog="dacapo-flow")
add_parsers(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args()
logging.basicConfig(level=logging.INFO)
args.func(args)
"""


@pytest.fixture
def workdir(tmp_path, data):
    model = write_model(tmp_path / "store", data, "affinities")
    raw = write_raw(tmp_path / "raw.zarr", shape=(24, 24, 24))
    target = target_dict("em", model["run"].name, "affinities", raw, shards=2)
    target["outputs"] = ["prediction", "segmentation"]
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump({"predictions": [target]}))
    rules = REPO_ROOT / "workflow" / "rules" / "predict.smk"
    (tmp_path / "Snakefile").write_text(
        SNAKEFILE.format(run_config=model["run_config"], rules=rules)
    )
    shim = tmp_path / "bin" / "dacapo-flow"
    shim.parent.mkdir()
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def snakemake(workdir, *args):
    env = snakemake_env()
    env["PATH"] = os.pathsep.join([str(workdir / "bin"), env["PATH"]])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "workflow"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--printshellcmds", *args]
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    return result.returncode, result.stdout + result.stderr


def test_the_rules_plan_and_run_a_prediction(workdir):
    code, output = snakemake(workdir, "--dry-run")
    assert code == 0, output
    counts = {}
    for job in parse_jobs(output):
        counts[job.rule] = counts.get(job.rule, 0) + 1
    assert counts == {
        "predict_prepare": 1,
        "predict_shard": 2,
        "segment_shard": 2,
        "segment_merge": 1,
        "relabel_shard": 2,
        "predict_verify": 1,
        "all": 1,
    }
    assert "--target-json '{" in output  # quoted as one argument

    code, output = snakemake(workdir)
    assert code == 0, output
    verified = read_json(workdir / "store" / "predictions" / "em" / "verified.json")
    assert verified["outputs"]["segmentation"] == ["segmentation/s0"]
    code, output = snakemake(workdir, "--dry-run")
    assert code == 0 and "Nothing to be done" in output, output


def test_an_unknown_shard_is_refused(workdir):
    target = "store/predictions/em/shards/predict_5.json"
    code, output = snakemake(workdir, "--dry-run", target)
    assert code != 0 and "has 2 shards, no shard 5" in output
    assert Path(workdir / target).exists() is False
