"""The project's SLURM profile drives a real (local, single-node) SLURM cluster.

A throw-away 3-rule workflow runs through `snakemake --profile profiles/slurm`; SLURM's own
accounting (sacct) must show that every rule ran as a completed sbatch job, and that the rule
with `resources: gpu=1` got a GPU allocated.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_cluster import REPO, SlurmCluster, slurm_cluster_fixture

pytestmark = pytest.mark.slurm

PROFILE = REPO / "profiles" / "slurm"
SNAKEMAKE_TIMEOUT_S = 300  # the plugin waits forever if status queries fail; never hang CI

local_slurm = slurm_cluster_fixture(partition="debug", fake_gpus=2)

# The first rule is the default target. Each job records the SLURM job id it ran in;
# gpu_step also records the GPU SLURM bound to it. The GPU rule names the partition
# explicitly (as a user would for a GPU partition); the others get the cluster's default.
SNAKEFILE = """\
rule summarize:
    input: "gpu.txt"
    output: "summary.txt"
    shell: "cat {{input}} > {{output}}; echo $SLURM_JOB_ID >> {{output}}"

rule gpu_step:
    input: "input.txt"
    output: "gpu.txt"
    resources: gpu=1, slurm_partition="{partition}"
    shell: "echo $SLURM_JOB_ID $CUDA_VISIBLE_DEVICES > {{output}}"

rule make_input:
    output: "input.txt"
    shell: "echo $SLURM_JOB_ID > {{output}}"
"""

SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: .*/rule_(\w+)/")


def run_snakemake(workdir: Path, cluster: SlurmCluster) -> str:
    """Run the profile on `workdir`; return the log. Kills Snakemake if it hangs."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILE),
        "--workflow-profile",
        "none",
        "--directory",
        str(workdir),
        "--snakefile",
        str(workdir / "Snakefile"),
        # test-only: poll after 2 s instead of 40 s; --verbose logs the sbatch calls
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--verbose",
    ]
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    log_path = workdir / "snakemake.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=SNAKEMAKE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # SIGTERM only waits for running jobs
            proc.wait()
            returncode = None
    text = log_path.read_text()
    if returncode != 0:
        job_ids = [m.group(1) for m in SUBMITTED.finditer(text)]
        if job_ids:
            subprocess.run(["scancel", *job_ids], check=False)
        outcome = "timed out" if returncode is None else f"exit {returncode}"
        pytest.fail(f"snakemake {outcome} on {cluster.ready_line}\n{text[-6000:]}")
    return text


def sacct_jobs(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """sacct's record of each job (allocation line only), by job id."""
    fields = ["JobID", "State", "Partition", "AllocTRES"]
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]
    return {row["JobID"]: row for row in rows}


def test_profile_runs_every_rule_as_a_slurm_job_and_gives_gpu_rules_a_gpu(
    local_slurm: SlurmCluster, tmp_path: Path
):
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(partition=local_slurm.partition))

    log = run_snakemake(tmp_path, local_slurm)

    job_of_rule = {m.group(2): m.group(1) for m in SUBMITTED.finditer(log)}
    assert set(job_of_rule) == {"make_input", "gpu_step", "summarize"}
    gpu_sbatch = [line for line in log.splitlines() if "--comment rule_gpu_step" in line]
    assert len(gpu_sbatch) == 1 and "--gpus=1" in gpu_sbatch[0].split(" --wrap=")[0]

    records = sacct_jobs(list(job_of_rule.values()))
    for rule, job_id in job_of_rule.items():
        record = records[job_id]
        assert record["State"] == "COMPLETED", (rule, record)
        assert record["Partition"] == local_slurm.partition, (rule, record)
        has_gpu = "gres/gpu=1" in record["AllocTRES"].split(",")
        assert has_gpu == (rule == "gpu_step"), (rule, record)

    # the outputs were written inside those SLURM jobs, and SLURM bound a GPU to gpu_step
    gpu_job_id, *visible_devices = (tmp_path / "gpu.txt").read_text().split()
    assert gpu_job_id == job_of_rule["gpu_step"]
    assert visible_devices and visible_devices[0] in {"0", "1"}
    assert (tmp_path / "input.txt").read_text().split() == [job_of_rule["make_input"]]
    assert (tmp_path / "summary.txt").read_text().split()[-1] == job_of_rule["summarize"]
