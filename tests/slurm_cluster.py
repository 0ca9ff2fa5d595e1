"""A real single-node SLURM cluster for tests, run by scripts/local_slurm.sh.

Not a test module: test modules build a fixture with `slurm_cluster_fixture()`. The fixture
skips (with the reason from `slurm_available()`) where the cluster cannot be started, starts
the cluster once per session, yields a `SlurmCluster`, and stops it at the end of the session
if it started it (a cluster that was already up before the session is left running).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "local_slurm.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
CONFIG_MARKER = "# written by scripts/local_slurm.sh"

# Programs the script needs with accounting on (the default, and what the tests use: the
# Snakemake slurm plugin polls `sacct`, which only answers with slurmdbd running).
REQUIRED_PROGRAMS = (
    "/usr/bin/sbatch",
    "/usr/bin/sacct",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/sbin/slurmdbd",
    "/usr/sbin/munged",
    "/usr/sbin/mariadbd",
)


@dataclass(frozen=True)
class SlurmCluster:
    """What a test needs to know about the running local cluster."""

    partition: str
    fake_gpus: int
    ready_line: str  # the script's "LOCAL-SLURM READY: ..." line
    started_here: bool  # this session started it, so it stops it


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes"}


def slurm_available() -> tuple[bool, str]:
    """Whether the local cluster can be started here; if not, the reason to skip.

    Installing packages (apt-get, about 30 s and network) is only allowed where CI=true or
    LOCAL_SLURM_INSTALL=1, so a developer's `pytest` never modifies their machine unasked.
    """
    if not sys.platform.startswith("linux"):
        return False, f"local SLURM cluster needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return False, "local SLURM cluster needs root (it starts system daemons)"
    if SLURM_CONF.exists() and not SLURM_CONF.read_text().startswith(CONFIG_MARKER):
        return False, f"{SLURM_CONF} belongs to another SLURM installation; not touching it"
    missing = [p for p in REQUIRED_PROGRAMS if not Path(p).exists()]
    if missing:
        if shutil.which("apt-get") is None:
            return False, f"SLURM not installed ({', '.join(missing)} missing) and no apt-get"
        if not (_truthy(os.environ.get("CI")) or _truthy(os.environ.get("LOCAL_SLURM_INSTALL"))):
            return False, (
                f"SLURM not installed ({', '.join(missing)} missing); tests install it "
                "with apt-get only when CI=true or LOCAL_SLURM_INSTALL=1"
            )
    return True, ""


def _run_script(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cluster_is_up() -> bool:
    """True if `local_slurm.sh status` reports a usable cluster."""
    return _run_script("status", timeout=60).returncode == 0


def start_cluster(partition: str = "debug", fake_gpus: int = 2) -> str:
    """Start (or reconfigure) the cluster with accounting; return the READY line.

    Raises RuntimeError with the script's output (it ends with the daemons' log tails).
    """
    env = dict(os.environ)
    env.update(
        LOCAL_SLURM_PARTITION=partition,
        LOCAL_SLURM_FAKE_GPUS=str(fake_gpus),
        LOCAL_SLURM_DBD="1",
    )
    result = _run_script("start", env=env)
    ready = re.search(r"^LOCAL-SLURM READY: .*$", result.stdout, flags=re.MULTILINE)
    if result.returncode != 0 or ready is None:
        raise RuntimeError(
            f"{SCRIPT} start failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return ready.group(0)


def stop_cluster() -> None:
    """Stop the daemons the script started (cancels jobs first)."""
    result = _run_script("stop", timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"{SCRIPT} stop failed:\n{result.stdout}\n{result.stderr}")


@contextlib.contextmanager
def local_slurm_cluster(partition: str = "debug", fake_gpus: int = 2) -> Iterator[SlurmCluster]:
    """Run the cluster for the duration of the block; stop it after if it was not up before."""
    was_up = cluster_is_up()
    ready_line = start_cluster(partition, fake_gpus)
    try:
        yield SlurmCluster(partition, fake_gpus, ready_line, started_here=not was_up)
    finally:
        if not was_up:
            stop_cluster()


def slurm_cluster_fixture(
    partition: str = "debug", fake_gpus: int = 2, scope: str = "session"
) -> Callable[[], Iterator[SlurmCluster]]:
    """A pytest fixture (assign it to a name in a test module) yielding a `SlurmCluster`."""

    @pytest.fixture(scope=scope)
    def slurm_cluster() -> Iterator[SlurmCluster]:
        available, reason = slurm_available()
        if not available:
            pytest.skip(reason)
        with local_slurm_cluster(partition, fake_gpus) as cluster:
            yield cluster

    return slurm_cluster
