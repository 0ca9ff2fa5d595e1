"""A run's resolved config as a file in the store: `<store>/<run>/run_config.yaml`.

The workflow's plan resolves each run once per Snakemake invocation (the run config YAML
with the run's name, repetition and sweep grid point applied). The main Snakemake process
writes that resolved config here before any job is scheduled, and every job of the run reads
this file alone: no job rebuilds a run from a YAML file, a name, a repetition and a grid point.

Written by the plan, not by a rule: one rule output read by every job would make every job of
a run depend on the whole config, so a new validation threshold would retrain the chunks
(what a job's config change reruns is decided by the stage hashes in its params, DESIGN §5).
"""

from pathlib import Path

import yaml

from ..config.run_config import RunConfig
from .atomic import atomic_write

HEADER = (
    "# Run {name!r} as the workflow resolved it, from {source}.\n"
    "# Edit that file (or config/config.yaml), not this copy: the workflow rewrites it.\n"
)


def run_config_text(config: RunConfig, source: str) -> str:
    data = config.model_dump(mode="json")
    text = HEADER.format(name=config.name, source=source)
    return text + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_run_config(config: RunConfig, out: str | Path, source: str) -> bool:
    """Write `config` to `out` (atomically) unless `out` holds it already; True if written.
    Unchanged files keep their modification time."""
    text = run_config_text(config, source)
    out = Path(out)
    try:
        if out.read_text() == text:
            return False
    except OSError:
        pass
    atomic_write(out, lambda f: f.write(text.encode()))
    return True
