"""Keep every thread pool of a job within the job's `--threads`.

A job's `threads:` is what Snakemake (or SLURM) reserved for it. torch's own pool follows
`--threads` (devices.set_threads), but numpy's BLAS, OpenMP runtimes loaded by other
libraries and numba size their pools from the machine's core count when they are first
imported, and must be told before that: `cap_thread_pools` runs first in the command line,
before anything imports numpy. Values the user set in the environment are kept.
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
    """Set the pool sizes of a job with `--threads N` to N (where unset); returns what it set."""
    threads = requested_threads(argv)
    if threads is None:
        return {}
    changed = {}
    for name in POOL_VARIABLES:
        if name not in environ:
            environ[name] = changed[name] = str(threads)
    return changed
