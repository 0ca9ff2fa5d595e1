"""The project's workflow runs through `--profile profiles/slurm` on a real (local,
single-node) SLURM cluster with fake GPUs, exactly as a user starts it on a submit host.

1. A tiny run (synthetic data, two training chunks, their validations, selection): every job
   that is not a local rule runs inside an sbatch job that SLURM accounts as COMPLETED, the
   GPU rules get a real `--gpus=1` allocation, a run's validations share one bundled job, and
   the store is the same as after a local run (same files, same weights, same best JSONs).
2. A training chunk cancelled with `scancel` while it trains: after Ctrl-C and a rerun of the
   same command, only that chunk is submitted again; it continues from the last checkpoint,
   which is left untouched, and the final weights equal those of an uninterrupted local run.
3. (No cluster needed.) The profile plans the repository's example, whose finetune run starts
   from another run's best checkpoint, with one validation bundle per run.

The SLURM job ids of each run are printed to the terminal (and appear in failure messages).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from dacapo_flow.layout import Layout
from dacapo_flow.stats.training_stats import TrainingStats
from slurm_cluster import REPO, SlurmCluster, slurm_cluster_fixture
from test_slurm_smoke import sacct_jobs
from workflow_support import (
    STORE,
    BackgroundSnakemake,
    SnakemakeResult,
    checkpoint_path,
    dry_run,
    install_workflow,
    snakemake_command,
    snakemake_env,
    tail,
    tiny_run_config,
    tiny_workflow_config,
    wait_for,
)

pytestmark = pytest.mark.slurm

local_slurm = slurm_cluster_fixture(partition="debug", fake_gpus=2)

RUN_TIMEOUT_S = 600  # a whole Snakemake run; killed (with its SLURM jobs) after that
GPU_RULES = {"train_chunk", "validate", "predict_shard"}
# declared local by the workflow: selection and the report
LOCAL_RULES = {"collect_scores", "select_best", "all", "sweep_metadata", "curves", "leaderboard"}
LOCAL_RULES |= {"lineage", "results", "prediction_preview"}
# the CPU jobs of a prediction target, each its own SLURM job without a GPU
PREDICT_CPU_RULES = {
    "predict_prepare",
    "segment_shard",
    "segment_merge",
    "relabel_shard",
    "predict_verify",
}
# One prediction target of the tiny distance run, in two shards, segmented.
PREDICTION = {
    "name": "mito",
    "run": "distance",
    "criterion": "mito__dice",
    "input": {"path": "data/synthetic/validate_0.zarr", "dataset": "raw"},
    "outputs": ["prediction", "segmentation"],
    "shards": 2,
}

# What a test adds to the user's `snakemake --profile profiles/slurm`:
# - the test node has 2 CPUs and ~23 GB, less than the profile asks for the GPU rules (8 CPUs,
#   32 GB). --set-resources replaces the profile's whole set-resources block, so gpu=1 is
#   repeated; memory keeps growing with `attempt` as in the profile; the walltime warning
#   signal is kept (sbatch must accept it), the threads follow the 1 CPU.
# - first status check after 2 s instead of 40 s; keep the SLURM logs of successful jobs (they
#   show which jobs ran inside each SLURM job); --verbose logs every sbatch call.
TEST_ARGS = (
    "--set-resources",
    "train_chunk:gpu=1",
    "train_chunk:cpus_per_task=1",
    "train_chunk:mem_mb=1000*attempt",
    "train_chunk:slurm_extra='--signal=USR1@120'",
    "validate:gpu=1",
    "validate:cpus_per_task=1",
    "validate:mem_mb=1000*attempt",
    "predict_shard:gpu=1",
    "predict_shard:cpus_per_task=1",
    "predict_shard:mem_mb=1000*attempt",
    "segment_shard:cpus_per_task=1",
    "segment_shard:mem_mb=1000*attempt",
    "relabel_shard:cpus_per_task=1",
    "relabel_shard:mem_mb=1000*attempt",
    "--set-threads",
    "train_chunk=1",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
    "--verbose",
)

_SUBMITTED = re.compile(
    r"has been submitted with SLURM jobid (?P<id>\d+) \(log: (?P<log>[^)]+)\)\.?$", re.MULTILINE
)
_SBATCH = re.compile(r"^sbatch call: (?P<call>sbatch .*)$", re.MULTILINE)
_LOCALRULE = re.compile(r"^localrule (?P<rule>\w+):\s*$")
_WILDCARDS = re.compile(r"^\s+wildcards: (?P<value>.*)$")


# --- what ran where -------------------------------------------------------------------------

JobKey = tuple[str, tuple[tuple[str, str], ...]]  # (rule, sorted wildcards)


def job_key(rule: str, wildcards: dict) -> JobKey:
    return rule, tuple(sorted(wildcards.items()))


def describe(key: JobKey) -> str:
    """E.g. train_chunk(distance,4): the rule with its run first, then other wildcards."""
    rule, wildcards = key
    values = [value for _, value in sorted(wildcards, key=lambda item: item[0] != "run")]
    return f"{rule}({','.join(values)})" if values else rule


def executed_locally(log: str) -> list[JobKey]:
    """The jobs a Snakemake process ran itself ("localrule" blocks of its log)."""
    jobs, rule, wildcards = [], None, {}
    for line in log.splitlines() + [""]:
        match = _LOCALRULE.match(line)
        if rule is not None and (match or not line.startswith(" ")):
            jobs.append(job_key(rule, wildcards))
            rule = None
        if match:
            rule, wildcards = match["rule"], {}
        elif rule is not None and (field := _WILDCARDS.match(line)):
            pairs = (item.strip().partition("=") for item in field["value"].split(","))
            wildcards = {key: value for key, _, value in pairs}
    return jobs


@dataclass(frozen=True)
class Submission:
    """One sbatch job of a Snakemake run."""

    job_id: str
    log: Path  # the job's SLURM log (stdout of the jobstep Snakemake inside the job)
    sbatch: str  # the sbatch command line, without the wrapped Snakemake call

    def jobs(self) -> list[JobKey]:
        """The workflow jobs that ran inside this SLURM job."""
        return executed_locally(self.log.read_text()) if self.log.exists() else []


def submissions(log: str) -> list[Submission]:
    """Every sbatch job in a Snakemake (--verbose) log, in submission order."""
    calls = [m["call"].split(" --wrap=")[0] for m in _SBATCH.finditer(log)]
    found = [(m["id"], Path(m["log"])) for m in _SUBMITTED.finditer(log)]
    # Each "sbatch call" line is followed by its job id, unless sbatch is still running.
    return [Submission(i, path, call) for (i, path), call in zip(found, calls)]


def job_ids_line(subs: list[Submission], states: dict[str, str] | None = None) -> str:
    """`<job id> <jobs that ran in it> [<SLURM state>]; ...`"""
    parts = []
    for sub in subs:
        jobs = "+".join(describe(job) for job in sub.jobs()) or "(no job ran)"
        state = f" {states[sub.job_id]}" if states and sub.job_id in states else ""
        parts.append(f"{sub.job_id} {jobs}{state}")
    return "; ".join(parts)


# --- running Snakemake through the profile --------------------------------------------------


class ProfileRun:
    """`snakemake --profile profiles/slurm` in the background, in its own process group, with
    its output in `log_name` in the workflow directory."""

    def __init__(self, workdir: Path, *targets: str, log_name: str = "snakemake-slurm.log"):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / log_name
        self.command = snakemake_command("--profile", "profiles/slurm", *TEST_ARGS, *targets)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=snakemake_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Ctrl-C must work even where pytest runs with SIGINT ignored (a background
                # job of a shell script), which Python would otherwise pass on to Snakemake.
                # (Only a signal disposition is set between fork and exec: no locks taken.)
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
            )

    def wait_until(self, condition, what: str, poll_s: float) -> None:
        """Poll `condition` while Snakemake runs; fail at once if Snakemake exits first."""

        def check() -> bool:
            if condition():
                return True
            if self.process.poll() is not None:
                raise AssertionError(
                    f"snakemake exited ({self.process.returncode}) while the test waited for "
                    f"{what}:\n{tail(self.log())}"
                )
            return False

        wait_for(check, RUN_TIMEOUT_S, what, poll_s)

    def interrupt(self) -> None:
        """What Ctrl-C does: Snakemake cancels its SLURM jobs and exits."""
        self.process.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """Kill Snakemake if it still runs and cancel the SLURM jobs it submitted."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # SIGTERM would wait for the jobs
            self.process.wait()
        ids = [sub.job_id for sub in self.submissions()]
        if ids:
            subprocess.run(["scancel", *ids], check=False, capture_output=True)

    def log(self) -> str:
        return self.log_path.read_text()

    def submissions(self) -> list[Submission]:
        return submissions(self.log())

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> SnakemakeResult:
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"snakemake did not finish within {timeout} s; SLURM jobs: "
                f"{job_ids_line(self.submissions())}\n{tail(self.log())}"
            ) from None
        return SnakemakeResult(self.command, returncode, self.log())


@contextlib.contextmanager
def profile_run(workdir: Path, *targets: str, **kwargs) -> Iterator[ProfileRun]:
    """A `ProfileRun` that is stopped on leaving the block, so that a failing or hanging test
    leaves no Snakemake process and no SLURM job behind."""
    run = ProfileRun(workdir, *targets, **kwargs)
    try:
        yield run
    finally:
        run.stop()


def squeue_state(job_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def report(capsys, title: str, started: float, subs: list[Submission]) -> None:
    """Print the SLURM jobs of a test, with SLURM's final state of each, to the terminal
    (whatever pytest's capture mode)."""
    records = sacct_jobs([sub.job_id for sub in subs]) if subs else {}
    states = {job_id: record["State"] for job_id, record in records.items()}
    with capsys.disabled():
        print(
            f"\n[slurm] {title}: {len(subs)} SLURM jobs, {time.monotonic() - started:.0f} s: "
            f"{job_ids_line(subs, states)}"
        )


# --- the store ------------------------------------------------------------------------------


def store_files(run_dir: Path) -> set[str]:
    """Files of one run's store, relative to it; logs and temp files left out."""
    files = set()
    for path in run_dir.rglob("*"):
        relative = path.relative_to(run_dir)
        if path.is_file() and relative.parts[0] not in {"logs", "tmp"}:
            files.add(relative.as_posix())
    return files


def model_tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, weights_only=True)["model"]


def assert_same_weights(actual: Path, expected: Path) -> None:
    got, want = model_tensors(actual), model_tensors(expected)
    assert got.keys() == want.keys(), f"{actual} and {expected} hold different tensors"
    differ = [name for name in want if not torch.equal(got[name], want[name])]
    assert not differ, f"{actual} differs from {expected} in {differ}"


def file_identity(path: Path) -> tuple[int, int, str]:
    """(inode, mtime in ns, sha256): any rewrite of the file changes it."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


# --- tests ----------------------------------------------------------------------------------


def test_workflow_through_the_slurm_profile_matches_a_local_run(
    local_slurm: SlurmCluster, completed_workflow: Path, tmp_path: Path, capsys
):
    config = tiny_workflow_config()
    config["runs"] = [{"config": "config/runs/distance.yaml"}]
    config["predictions"] = [PREDICTION]
    workdir = install_workflow(
        tmp_path / "slurm", runs={"distance": tiny_run_config("distance")}, config=config
    )
    planned = {job_key(job.rule, job.wildcards) for job in dry_run(workdir).check().jobs}
    started = time.monotonic()

    with profile_run(workdir) as run:
        result = run.wait()
        subs = run.submissions()
    report(capsys, "tiny distance run", started, subs)
    ids = job_ids_line(subs)
    result.check()

    # Every job ran exactly once: the local rules in Snakemake itself, all others in SLURM jobs.
    ran_local = executed_locally(result.output)
    ran_in_slurm = {job: sub for sub in subs for job in sub.jobs()}
    assert sum(len(sub.jobs()) for sub in subs) == len(ran_in_slurm), ids
    assert {rule for rule, _ in ran_local} == LOCAL_RULES
    in_slurm = {"synthetic_data", "validation_picture"} | GPU_RULES | PREDICT_CPU_RULES
    assert {rule for rule, _ in ran_in_slurm} == in_slurm, ids
    assert sum(1 for rule, _ in ran_in_slurm if rule == "predict_shard") == 2, ids
    assert Counter(ran_local) + Counter(list(ran_in_slurm)) == Counter(planned), ids

    # A run's validations share one SLURM job (the profile's per-run bundle).
    bundles = {ran_in_slurm[job].job_id for job in ran_in_slurm if job[0] == "validate"}
    assert len(bundles) == 1, ids

    # SLURM's accounting: every job completed; GPU rules (and only they) got a GPU.
    records = sacct_jobs([sub.job_id for sub in subs])
    for sub in subs:
        record = records[sub.job_id]
        rules = {rule for rule, _ in sub.jobs()}
        assert record["State"] == "COMPLETED", (rules, record, ids)
        assert record["Partition"] == local_slurm.partition, (rules, record)
        has_gpu = "gres/gpu=1" in record["AllocTRES"].split(",")
        assert has_gpu == bool(rules & GPU_RULES), (rules, record)
        assert ("--gpus=1" in sub.sbatch.split()) == has_gpu, sub.sbatch

    # The prediction target was verified: every block of both shards present and correct.
    verified = json.loads((workdir / Layout(STORE).prediction("mito").verified).read_text())
    assert verified["outputs"]["segmentation"] == ["prediction/labels/segmentation/s0"]

    # The store is the one a local run writes: same files, weights and best checkpoints.
    slurm_run = workdir / STORE / "distance"
    local_run = completed_workflow / STORE / "distance"
    assert store_files(slurm_run) == store_files(local_run)
    for name in sorted(store_files(local_run)):
        if name.startswith("checkpoints/"):
            if not name.endswith(".json"):  # checkpoints and model files; .json: their digests
                assert_same_weights(slurm_run / name, local_run / name)
            continue
        if name.endswith(".json") and name != "sweep.json":  # best records
            got = json.loads((slurm_run / name).read_text())
            want = json.loads((local_run / name).read_text())
            assert got.keys() == want.keys(), name
            assert got["iteration"] == want["iteration"], name
            assert got["parameters"] == want["parameters"], name
            assert got["score"] == pytest.approx(want["score"], rel=1e-6), name


# A training run whose chunks take several seconds of training (10 steps of a 44^3 U-Net),
# so a chunk can be cancelled while it trains. Training only: no validation datasets.
RESUME_INTERVAL = 10
RESUME_ITERATIONS = 2 * RESUME_INTERVAL


def resume_run_config() -> dict:
    run = tiny_run_config("resume")
    run.update(num_iterations=RESUME_ITERATIONS, validation_interval=RESUME_INTERVAL)
    run["description"] = "two chunks of ten steps; the second is cancelled and rerun"
    return run


def install_resume_workflow(workdir: Path, data_from: Path) -> Path:
    """The resume run with the synthetic data of `data_from` (identical: it is seeded)."""
    install_workflow(workdir, runs={"resume": resume_run_config()})
    shutil.copytree(data_from / "data", workdir / "data", copy_function=shutil.copy2)
    return workdir


def test_cancelled_training_chunk_reruns_from_the_last_checkpoint(
    local_slurm: SlurmCluster, completed_workflow: Path, tmp_path: Path, capsys
):
    """scancel of a chunk while it trains: SLURM accounts the job CANCELLED. Snakemake's slurm
    plugin (2.8) does not recognise sacct's "CANCELLED by <uid>" and would wait for that job
    forever (a retry never comes), so the test does what a user does: Ctrl-C, then the same
    command again. The rerun submits only the cancelled chunk, which starts from checkpoint k."""
    k, final = RESUME_INTERVAL, RESUME_ITERATIONS
    target = f"{STORE}/resume/checkpoints/iterations/{final}"
    slurm_dir = install_resume_workflow(tmp_path / "slurm", completed_workflow)
    local_dir = install_resume_workflow(tmp_path / "local", completed_workflow)
    comment = f"rule_train_chunk_wildcards_resume_{final}"
    chunk_log = slurm_dir / STORE / "resume" / "logs" / "train_chunk" / f"{final}.log"
    checkpoint_k = checkpoint_path(slurm_dir, "resume", k)
    started = time.monotonic()

    # The uninterrupted local reference runs meanwhile, with the one thread the SLURM jobs
    # have here: CPU results are bit-exact for one thread count, not across thread counts.
    reference = BackgroundSnakemake(local_dir, target, "--set-threads", "train_chunk=1")
    try:
        with profile_run(slurm_dir, target, log_name="snakemake-first.log") as run:
            run.wait_until(checkpoint_k.exists, f"checkpoint {k} of the SLURM run", 0.5)
            training = []  # the SLURM job id of chunk k->final once it trains

            def chunk_is_training() -> bool:
                for sub in run.submissions():
                    if f"--comment {comment} " in sub.sbatch + " ":
                        text = chunk_log.read_text() if chunk_log.exists() else ""
                        # tqdm's first line: the chunk's training loop has started
                        if squeue_state(sub.job_id) == "RUNNING" and f" 0/{k} [" in text:
                            training.append(sub.job_id)
                return bool(training)

            run.wait_until(chunk_is_training, f"chunk {k}->{final} to train", 0.2)
            cancelled = training[0]
            # Snakemake touches a remote job's outputs when it registers the job as finished,
            # which it did before submitting the next chunk: from here on k must stay as it is.
            before = file_identity(checkpoint_k)
            assert not checkpoint_path(slurm_dir, "resume", final).exists(), (
                f"chunk {k}->{final} finished before it could be cancelled; make it longer"
            )
            subprocess.run(["scancel", cancelled], check=True)
            wait_for(
                lambda: sacct_jobs([cancelled])[cancelled]["State"].startswith("CANCELLED"),
                60,
                f"SLURM to account job {cancelled} as cancelled",
                0.5,
            )
            run.interrupt()
            interrupted = run.wait(timeout=120)
            first_subs = run.submissions()
        with profile_run(slurm_dir, target, log_name="snakemake-rerun.log") as rerun:
            result = rerun.wait()
            subs = rerun.submissions()
        report(capsys, "cancel, Ctrl-C, rerun", started, first_subs + subs)
        ids = f"first run: {job_ids_line(first_subs)}; rerun: {job_ids_line(subs)}"
        result.check()
        reference_result = reference.wait(timeout=RUN_TIMEOUT_S)
    finally:
        reference.kill_group()
    reference_result.check()
    assert interrupted.returncode != 0, ids

    # SLURM saw chunk 0->k complete and chunk k->final cancelled; the rerun submitted only
    # chunk k->final, which completed on a GPU.
    first_chunks = [sub.sbatch.split("--comment ")[1].split()[0] for sub in first_subs]
    assert first_chunks[:2] == [f"rule_train_chunk_wildcards_resume_{k}", comment], ids
    assert first_subs[1].job_id == cancelled, ids
    (resumed,) = subs
    assert f"--comment {comment} " in resumed.sbatch, ids
    records = sacct_jobs([first_subs[0].job_id, cancelled, resumed.job_id])
    assert records[first_subs[0].job_id]["State"] == "COMPLETED", records
    assert records[cancelled]["State"].startswith("CANCELLED"), records
    assert records[resumed.job_id]["State"] == "COMPLETED", records
    assert "gres/gpu=1" in records[resumed.job_id]["AllocTRES"].split(","), records

    # The rerun continued from checkpoint k: k was not rewritten, and only steps k..final-1
    # were trained, starting from it.
    assert file_identity(checkpoint_k) == before
    assert resumed.jobs() == [job_key("train_chunk", {"run": "resume", "iteration": str(final)})]
    assert f"--previous {STORE}/resume/checkpoints/iterations/{k} " in resumed.log.read_text()
    stats_path = slurm_dir / STORE / "resume" / "training_stats" / f"{final}.nc"
    stats = TrainingStats.from_netcdf(stats_path)
    assert [s.iteration for s in stats.iteration_stats] == list(range(k, final))

    # Bit-exact: the same weights and losses as the uninterrupted local run.
    assert_same_weights(
        checkpoint_path(slurm_dir, "resume", final), checkpoint_path(local_dir, "resume", final)
    )
    reference_stats = TrainingStats.from_netcdf(
        local_dir / STORE / "resume" / "training_stats" / f"{final}.nc"
    )
    assert [s.loss for s in stats.iteration_stats] == [
        s.loss for s in reference_stats.iteration_stats
    ]
    # Nothing is left to do for the profile either (no incomplete outputs).
    again = dry_run(slurm_dir, target, extra=["--profile", "profiles/slurm"]).check()
    assert "Nothing to be done" in again.output, tail(again.output)


_GROUP_JOB = re.compile(r"Group job (?P<group>\S+) \(jobs in lexicogr\. order\):$")


def planned_groups(output: str) -> dict[str, list[str]]:
    """Group name -> the run wildcard of each member, from a dry run's group job blocks.

    A group block lists its members indented; it ends where the next job starts unindented
    (its timestamp line, or its "rule" line) or at the Job stats table."""
    groups, current = {}, None
    for line in output.splitlines():
        if match := _GROUP_JOB.search(line):
            current = groups.setdefault(match["group"], [])
        elif re.match(r"\[|(local)?rule |Job stats:", line):
            current = None
        elif current is not None and (field := _WILDCARDS.match(line)):
            pairs = (item.strip().partition("=") for item in field["value"].split(","))
            current.append({key: value for key, _, value in pairs}["run"])
    return groups


def test_profile_plans_the_example_with_one_validation_bundle_per_run(tmp_path: Path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    runs = {}
    for entry in config["runs"]:
        run = yaml.safe_load((REPO / entry["config"]).read_text())
        runs[run["name"]] = run
    config["runs"] = [{"config": f"config/runs/{name}.yaml"} for name in runs]
    workdir = install_workflow(tmp_path / "example", runs=runs, config=config)
    assert any("start_config" in run for run in runs.values()), "the example has no finetune"

    result = dry_run(workdir, extra=["--profile", "profiles/slurm"]).check()

    # One bundle per run, named after it, holding only that run's validations; every run of
    # the example validates, so each has its bundle.
    groups = planned_groups(result.output)
    assert len(groups) == len(runs), tail(result.output)
    for group, members in groups.items():
        assert len(set(members)) == 1 and group == f"validate_bundle_{members[0]}", groups
