"""Keep every thread pool of a job within the job's `--threads`.

A job's `threads:` is what Snakemake (or SLURM) reserved for it. torch's own pool follows
`--threads` (devices.set_threads), but numpy's BLAS, OpenMP runtimes loaded by other
libraries and numba size their pools from the machine's core count when they are first
imported, and must be told before that: `cap_thread_pools` runs first in the command line,
before anything imports numpy. Values the user set in the environment are kept.

OpenMP threads also sleep at once when they run out of work (`OMP_WAIT_POLICY=PASSIVE`)
instead of spinning for the next parallel region: a spinning thread takes the core from
whatever shares it. bench/contention.py, two example chunks of 2 threads on 2 cores: slowdown
1.75x passive, 2.39x unset (libgomp spins a while, then sleeps), 2.55x active; a chunk alone
0.149 / 0.146 / 0.146 s per step.
"""

from __future__ import annotations

import os

# Read once, at import of the library that owns the pool.
POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def requested_threads(argv: list[str]) -> int | None:
    """The value of `--threads N` / `--threads=N` in a command line, if any."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                threads = int(value)
            except ValueError:
                return None  # argparse reports it
            return threads if threads > 0 else None
    return None


def cap_thread_pools(argv: list[str], environ=os.environ) -> dict[str, str]:
    """Pool sizes of a job with `--threads N` to N and a passive OpenMP wait (where unset);
    returns what it set."""
    threads = requested_threads(argv)
    if threads is None:
        return {}
    wanted = {name: str(threads) for name in POOL_VARIABLES} | {"OMP_WAIT_POLICY": "PASSIVE"}
    changed = {}
    for name, value in wanted.items():
        if name not in environ:
            environ[name] = changed[name] = value
    return changed
