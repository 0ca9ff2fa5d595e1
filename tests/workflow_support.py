"""Helpers for the workflow tests: install the repo's workflow with tiny configs in a scratch
directory, run real Snakemake there as a subprocess, and read what a dry run plans.

A dry run with `--printshellcmds` prints one block per planned job:

    rule train_chunk:
        input: data/synthetic/manifest.json, results/store/distance/checkpoints/iterations/2
        output: ...
        wildcards: run=distance, iteration=4
    Shell command: dacapo-flow train-chunk ...

`parse_jobs` reads those blocks and checks them against the "Job stats" table that closes the
output, so a change of Snakemake's output format fails loudly instead of counting zero jobs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_DIR = Path(__file__).resolve().parent / "data" / "tiny"
STORE = "results/store"
# What a user's checkout needs to run the workflow (the library is installed, not copied).
WORKFLOW_ITEMS = ("Snakefile", "workflow", "profiles", "envs")
_NOT_WORKFLOW = shutil.ignore_patterns("dacapo_flow", "*.egg-info", "__pycache__", ".snakemake")
SNAKEMAKE_TIMEOUT_S = 900
REPORT_RULES = (
    "sweep_metadata",
    "curves",
    "leaderboard",
    "lineage",
    "results",
    "validation_picture",
    "prediction_preview",
)
# A prediction target of the tiny workflow: the affinities run's voi winner, segmented, on
# the validation volume, in two shards.
PREDICTION_TARGET = {
    "name": "aff",
    "run": "affinities",
    "criterion": "voi",
    "input": {"path": "data/synthetic/validate_0.zarr", "dataset": "raw"},
    "outputs": ["prediction", "segmentation"],
    "shards": 2,
}
# Python code after which `import torch` raises ImportError (for light-job tests). A finder,
# not sys.modules["torch"] = None: scipy takes any "torch" in sys.modules for the module.
NO_TORCH = """import sys


class NoTorch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name}: a light job must not import torch")


sys.meta_path.insert(0, NoTorch)
"""


# --- installing a workflow ------------------------------------------------------------------


def tiny_run_config(name: str) -> dict:
    """One of the tiny run configs in tests/data/tiny/runs, as a dict."""
    return yaml.safe_load((TINY_DIR / "runs" / f"{name}.yaml").read_text())


def tiny_workflow_config() -> dict:
    return yaml.safe_load((TINY_DIR / "config.yaml").read_text())


def install_workflow(
    workdir: Path, runs: Mapping[str, dict] | None = None, config: dict | None = None
) -> Path:
    """Copy the repo's workflow into `workdir` with run configs `runs` (name -> config dict,
    written to config/runs/<name>.yaml) and workflow config `config`. Defaults: the tiny
    distance, affinities and finetune runs. Returns `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_ITEMS:
        source = REPO_ROOT / item
        if source.is_dir():
            shutil.copytree(source, workdir / item, ignore=_NOT_WORKFLOW)
        elif source.exists():
            shutil.copy2(source, workdir / item)
    if runs is None:
        runs = {name: tiny_run_config(name) for name in ("distance", "affinities", "finetune")}
    for name, run in runs.items():
        write_run_config(workdir, name, run)
    if config is None:
        config = tiny_workflow_config()
        config["runs"] = [{"config": f"config/runs/{name}.yaml"} for name in runs]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def copy_workflow(source: Path, destination: Path) -> Path:
    """A copy of a workflow directory with its store and Snakemake metadata; modification
    times are kept, so the copy is exactly as up to date as the original."""
    shutil.copytree(source, destination, symlinks=True, copy_function=shutil.copy2)
    return Path(destination)


def run_config_path(workdir: Path, name: str) -> Path:
    return Path(workdir) / "config" / "runs" / f"{name}.yaml"


def read_run_config(workdir: Path, name: str) -> dict:
    return yaml.safe_load(run_config_path(workdir, name).read_text())


def write_run_config(workdir: Path, name: str, run: dict) -> Path:
    path = run_config_path(workdir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path


def edit_run_config(workdir: Path, name: str, edit: Callable[[dict], None]) -> dict:
    """Apply `edit` (which mutates the dict in place) to run config `name`; returns it."""
    run = read_run_config(workdir, name)
    edit(run)
    write_run_config(workdir, name, run)
    return run


def checkpoint_path(workdir: Path, run: str, iteration: int) -> Path:
    return Path(workdir) / STORE / run / "checkpoints" / "iterations" / str(iteration)


# --- running Snakemake ----------------------------------------------------------------------


def snakemake_command(*args: str, cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", str(cores), *args]


def snakemake_env() -> dict[str, str]:
    """The environment for Snakemake and its jobs: the `dacapo-flow` of this interpreter
    first on PATH, one thread per library (jobs set torch's own)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


@dataclass
class SnakemakeResult:
    """Exit status and combined output of one Snakemake call, with its planned jobs."""

    args: list[str]
    returncode: int
    output: str

    @cached_property
    def jobs(self) -> list[PlannedJob]:
        return parse_jobs(self.output)

    def check(self) -> SnakemakeResult:
        """Self, or an AssertionError showing the output when Snakemake failed."""
        if self.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(self.args)} exited {self.returncode}:\n{tail(self.output)}"
            )
        return self

    def counts(self, exclude: Iterable[str] = ("all", *REPORT_RULES)) -> Counter:
        """Planned jobs per (rule, run); run is None for rules without a run wildcard. The
        report's jobs are left out by default: they follow whatever changed (their own tests
        say which), and DESIGN §5 is about training, validation and selection."""
        skip = set(exclude)
        return Counter((job.rule, job.run) for job in self.jobs if job.rule not in skip)

    def count(self, rule: str, run: str | None = None) -> int:
        return sum(1 for job in self.jobs if job.rule == rule and (run is None or job.run == run))

    def select(self, rule: str, run: str | None = None) -> list[PlannedJob]:
        return [job for job in self.jobs if job.rule == rule and (run is None or job.run == run)]

    def iterations(self, rule: str, run: str) -> list[int]:
        return sorted(job.iteration for job in self.select(rule, run))

    def describe(self) -> str:
        """The planned jobs with their reasons, for assertion messages."""
        lines = [f"{job.rule} {job.wildcards}: {job.reason}" for job in self.jobs]
        return "\n".join(lines) or "(no jobs)"


def run_snakemake(
    workdir: Path,
    *args: str,
    cores: int = 2,
    timeout: float = SNAKEMAKE_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> SnakemakeResult:
    """Run Snakemake in `workdir` (which picks up its profiles/default) and wait for it;
    `env` replaces `snakemake_env()`."""
    command = snakemake_command(*args, cores=cores)
    completed = subprocess.run(
        command,
        check=False,
        cwd=workdir,
        env=snakemake_env() if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return SnakemakeResult(list(args), completed.returncode, completed.stdout)


def dry_run(workdir: Path, *targets: str, extra: Iterable[str] = ()) -> SnakemakeResult:
    """Plan (do not run) the jobs for `targets` (default: rule all)."""
    return run_snakemake(workdir, "--dry-run", "--printshellcmds", *extra, *targets)


class BackgroundSnakemake:
    """Snakemake started in its own process group, so that the test can kill it whole."""

    def __init__(self, workdir: Path, *args: str, cores: int = 2):
        self.workdir = Path(workdir)
        self.args = list(args)
        self._log = open(self.workdir / "snakemake-background.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            snakemake_command(*args, cores=cores),
            cwd=workdir,
            env=snakemake_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = SNAKEMAKE_TIMEOUT_S) -> SnakemakeResult:
        returncode = self.process.wait(timeout=timeout)
        self._log.seek(0)
        output = self._log.read()
        self._log.close()
        return SnakemakeResult(self.args, returncode, output)

    def output_so_far(self) -> str:
        return (self.workdir / "snakemake-background.log").read_text()

    def kill_group(self) -> None:
        """SIGKILL Snakemake and every job it started (as a lost node would)."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)

    def descendants(self) -> list:
        import psutil

        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def find_job_process(self, matches: Callable[[list[str]], bool]):
        """A descendant process whose argv satisfies `matches`, or None."""
        import psutil

        for process in self.descendants():
            try:
                if matches(process.cmdline()):
                    return process
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return None


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.05):
    """Poll `condition` until true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- reading a dry run ----------------------------------------------------------------------

_RULE_LINE = re.compile(r"^(?:local)?rule (?P<rule>\w+):\s*$")
_FIELD_LINE = re.compile(r"^\s+(?P<key>\w+): (?P<value>.*)$")
_SHELL_LINE = re.compile(r"^Shell command: (?P<command>.*)$")
_STATS_ROW = re.compile(r"^(?P<rule>\w+)\s+(?P<count>\d+)\s*$")


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run."""

    rule: str
    wildcards: dict = field(default_factory=dict)
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    reason: str = ""
    shell: str | None = None
    resources: dict = field(default_factory=dict)

    @property
    def run(self) -> str | None:
        return self.wildcards.get("run")

    @property
    def iteration(self) -> int | None:
        value = self.wildcards.get("iteration")
        return None if value is None else int(value)


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _parse_wildcards(value: str) -> dict:
    pairs = (item.strip().partition("=") for item in value.split(","))
    return {key: val for key, _, val in pairs if key}


def _job_from_fields(rule: str, fields: dict, shell: str | None) -> PlannedJob:
    return PlannedJob(
        rule=rule,
        wildcards=_parse_wildcards(fields.get("wildcards", "")),
        input=_split_paths(fields.get("input", "")),
        output=_split_paths(fields.get("output", "")),
        reason=fields.get("reason", ""),
        shell=shell,
        resources=_parse_wildcards(fields.get("resources", "")),
    )


def parse_job_stats(output: str) -> Counter | None:
    """The "Job stats" table (rule -> count), or None when the output has none."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return None
    stats = Counter()
    for line in lines[start + 1 :]:
        match = _STATS_ROW.match(line.strip())
        if line.strip().startswith("total"):
            break
        if match:
            stats[match["rule"]] = int(match["count"])
    return stats


def parse_jobs(output: str) -> list[PlannedJob]:
    """Every job block of a dry run's output (empty when there is nothing to do), checked
    against the Job stats table."""
    jobs: list[PlannedJob] = []
    rule, fields, shell = None, {}, None

    def close():
        if rule is not None:
            jobs.append(_job_from_fields(rule, fields, shell))

    for line in output.splitlines():
        if match := _RULE_LINE.match(line):
            close()
            rule, fields, shell = match["rule"], {}, None
        elif rule is not None and (match := _FIELD_LINE.match(line)) and shell is None:
            fields.setdefault(match["key"], match["value"])
        elif rule is not None and (match := _SHELL_LINE.match(line)):
            shell = match["command"]
        elif line.strip() == "Job stats:":
            close()
            rule = None
    close()
    stats = parse_job_stats(output)
    if stats is None and jobs:
        raise ValueError(f"dry run lists {len(jobs)} jobs but no Job stats table")
    parsed = Counter(job.rule for job in jobs)
    if stats is not None and parsed != stats:
        raise ValueError(f"job blocks {dict(parsed)} disagree with the Job stats {dict(stats)}")
    return jobs
