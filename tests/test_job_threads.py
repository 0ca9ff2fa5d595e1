"""A job's thread pools stay within its --threads, whatever imports them."""

import json
import os
import subprocess
import sys

from dacapo_flow.job_threads import POOL_VARIABLES, cap_thread_pools, requested_threads


def test_threads_are_read_from_either_spelling():
    assert requested_threads(["train-chunk", "--threads", "2"]) == 2
    assert requested_threads(["validate", "--threads=3"]) == 3
    assert requested_threads(["select-best"]) is None
    assert requested_threads(["x", "--threads", "two"]) is None


def test_unset_pools_get_the_job_threads_and_user_settings_stay():
    environ = {"OMP_NUM_THREADS": "1"}
    changed = cap_thread_pools(["validate", "--threads", "2"], environ)
    assert environ["OMP_NUM_THREADS"] == "1" and "OMP_NUM_THREADS" not in changed
    assert all(environ[name] == "2" for name in POOL_VARIABLES if name != "OMP_NUM_THREADS")
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"  # idle threads yield the core
    kept = {"OMP_WAIT_POLICY": "ACTIVE"}
    cap_thread_pools(["train-chunk", "--threads", "2"], kept)
    assert kept["OMP_WAIT_POLICY"] == "ACTIVE"
    assert cap_thread_pools(["check"], {}) == {}


def test_the_command_line_caps_the_pools_before_anything_imports_numpy():
    """BLAS and OpenMP read their sizes when first imported: `dacapo-flow` sets them first."""
    probe = (
        "import sys, os, json\n"
        "from dacapo_flow import cli\n"
        "before = 'numpy' in sys.modules\n"
        "try:\n"
        "    cli.main(['validate', '--threads', '1'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps([before] + [os.environ.get(n) for n in cli_pools]))\n"
    ).replace("cli_pools", repr(POOL_VARIABLES))
    env = {k: v for k, v in os.environ.items() if k not in POOL_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    numpy_before, *pools = json.loads(out.stdout)
    assert numpy_before is False and pools == ["1"] * len(POOL_VARIABLES)
