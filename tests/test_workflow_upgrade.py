"""Upgrading keeps the store: a store made by the previous main, whose jobs got the run config
YAML, repetition and grid point as params, plans no job at all under the current workflow,
whose jobs read `<store>/<run>/run_config.yaml` (store/snakemake_records.py upgrades
Snakemake's records; nothing retrains, revalidates, re-exports or re-predicts).

The previous main is taken from git (its Snakefile, rules and library, run with its own
library on PYTHONPATH), so the test needs the repository's history."""

import shutil
import subprocess
import tarfile

import pytest
import yaml

from dacapo_flow.layout import Layout
from workflow_support import (
    PREDICTION_TARGET,
    REPO_ROOT,
    STORE,
    WORKFLOW_ITEMS,
    copy_workflow,
    dry_run,
    install_workflow,
    run_snakemake,
    snakemake_env,
)

pytestmark = pytest.mark.workflow
LAYOUT = Layout(STORE)
# main before jobs read run_config.yaml (d78412c: "bench/end_to_end builds its run from ...")
PREVIOUS = "d78412ce2e70e7f0e9cf189f171113370dec0762"


def previous_main(destination):
    """The previous main's workflow items, extracted from git (skips without the history)."""
    found = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{PREVIOUS}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(f"needs commit {PREVIOUS[:7]} in the git history (a full clone)")
    archive = destination.with_suffix(".tar")
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", PREVIOUS, *WORKFLOW_ITEMS],
            stdout=out,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination


def use_workflow(workdir, source):
    for item in WORKFLOW_ITEMS:
        target = workdir / item
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (source / item).is_dir():
            shutil.copytree(source / item, target)
        elif (source / item).exists():
            shutil.copy2(source / item, target)


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    root = tmp_path_factory.mktemp("upgrade")
    previous = previous_main(root / "previous")
    workdir = install_workflow(root / "work")
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    # A swept and repeated run too: its grid point and repetition were params.
    config["runs"].append(
        {
            "config": "config/runs/distance.yaml",
            "grid": {"trainer_config.learning_rate": [0.002]},
            "repetitions": 2,
        }
    )
    config["exports"] = [{"run": "finetune", "dataset": "validate_0", "criterion": "mito__dice"}]
    config["predictions"] = [PREDICTION_TARGET]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    use_workflow(workdir, previous)
    env = snakemake_env()
    env["PYTHONPATH"] = str(previous / "workflow")  # the previous library, for its jobs too
    run_snakemake(workdir, env=env).check()
    assert not (workdir / LAYOUT.run_config("distance")).exists()

    use_workflow(workdir, REPO_ROOT)
    plan = dry_run(workdir)
    return workdir, plan


def test_a_store_of_the_previous_main_plans_no_job(upgraded):
    _, plan = upgraded
    plan.check()
    assert plan.jobs == [], plan.describe()
    assert "upgraded Snakemake's records of" in plan.output


def test_the_upgraded_store_reads_the_resolved_configs_and_still_reruns_a_changed_run(
    upgraded, tmp_path
):
    workdir = copy_workflow(upgraded[0], tmp_path / "copy")
    swept = sorted(p.parent.name for p in (workdir / STORE).glob("distance_*/run_config.yaml"))
    assert swept == ["distance_lr2e-3_rep0", "distance_lr2e-3_rep1"]
    resolved = yaml.safe_load((workdir / LAYOUT.run_config(swept[1])).read_text())
    assert (resolved["repetition"], resolved["trainer_config"]["learning_rate"]) == (1, 0.002)
    # The upgraded records still carry the config hashes: a new learning rate retrains.
    path = workdir / "config" / "runs" / "affinities.yaml"
    run = yaml.safe_load(path.read_text())
    run["trainer_config"]["learning_rate"] = 0.003
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    plan = dry_run(workdir).check()
    assert plan.iterations("train_chunk", "affinities") == [2, 3]
    assert plan.count("train_chunk", "distance") == 0
