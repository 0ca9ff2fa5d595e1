"""Upgrading Snakemake's job records of a store made before jobs read `run_config.yaml`.

Until then, each job that needed a run's config got the run config YAML, the repetition and
the grid point (and, for prediction, the run's name) as params. Now its one param is the path
of the run's resolved `run_config.yaml` instead. Snakemake reruns a job whose recorded params
or inputs differ from the rule's current ones, so without this upgrade every chunk of every
existing run would retrain. Only a record that matches the old rule exactly (the same run
config file, repetition and grid point as the plan has now) is rewritten, as Snakemake itself
would have recorded the job with the new rule: a record whose config hashes differ still
reruns, as it should.

Snakemake keeps one JSON record per output file under `.snakemake/metadata/`, named by the
URL-safe base64 of the output's path (record format version 6 of Snakemake 8 and 9).
"""

import base64
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path

from .atomic import atomic_write_json

METADATA = Path(".snakemake/metadata")

# Rules whose old params named the run by file (+ repetition + grid); the prediction rules
# also passed the run's name, which was a param there (a wildcard elsewhere).
BY_FILE = ("train_chunk", "validate", "normalisation", "export", "validation_picture")
BY_FILE_AND_NAME = ("predict_prepare", "predict_shard", "segment_shard")


def old_params(source: str, repetition: int, grid: dict, name: str, rule: str) -> list[str]:
    """The param values (as Snakemake records them: repr) the old rule had for a run."""
    values = [repr(str(source)), repr(repetition), repr(json.dumps(grid, sort_keys=True))]
    return values + ([repr(name)] if rule in BY_FILE_AND_NAME else [])


def records(metadata: Path = METADATA) -> Iterator[tuple[Path, str]]:
    """(record file, the output path it records) for every record; names split over
    directories (paths longer than the file-name limit) are joined back."""
    if not metadata.is_dir():
        return
    for root, _, files in os.walk(metadata):
        for name in files:
            path = Path(root, name)
            parts = [p.lstrip("@") for p in path.relative_to(metadata).parts]
            try:
                yield path, base64.urlsafe_b64decode("".join(parts)).decode()
            except (ValueError, UnicodeDecodeError):
                continue  # not a record (e.g. a temporary file of Snakemake's)


def upgrade_record(record: dict, params: list[str], run_config: str) -> dict | None:
    """The record as the new rule would have written it, or None when it is not an old
    record of this run (already upgraded, another run, or params that differ)."""
    recorded = list(record.get("params") or [])
    new = repr(str(run_config))
    if new in recorded:
        return None
    for value in params:
        if value not in recorded:
            return None
        recorded.remove(value)
    return {**record, "params": sorted([*recorded, new])}


def upgrade_records(
    find_run: Callable[[str, dict], tuple[list[str], str] | None],
    metadata: Path = METADATA,
) -> list[str]:
    """Rewrite each old record that `find_run(output path, record)` places in a planned run,
    given as (its old params, its run_config.yaml path). Returns the outputs upgraded."""
    upgraded = []
    for path, output in records(metadata):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("rule") not in BY_FILE + BY_FILE_AND_NAME:
            continue
        found = find_run(output, record)
        if found is None:
            continue
        new = upgrade_record(record, *found)
        if new is not None:
            atomic_write_json(path, new)
            upgraded.append(output)
    return upgraded


def run_finder(plan: dict, layout, prediction_runs: dict[str, str]):
    """`find_run` for `upgrade_records`: an output belongs to the run whose directory (or
    validation-picture directory) holds it, or to the run its prediction target applies. The
    old params come from the plan (the run's file, repetition and grid point now), the new one
    is the run's `layout.run_config`."""
    owners = {layout.run_dir(name): name for name in plan}
    owners |= {posixpath.dirname(layout.validation_picture(name, "d")): name for name in plan}
    owners |= {layout.prediction_dir(target): run for target, run in prediction_runs.items()}

    def find(output: str, record: dict):
        # Up the output's directories: a dict lookup each, whatever the number of runs.
        directory, parent = posixpath.dirname(output), None
        while directory not in owners and directory != parent:
            directory, parent = posixpath.dirname(directory), directory
        name = owners.get(directory)
        if name not in plan:
            return None
        run = plan[name]
        old = old_params(run.source, run.repetition, run.grid, run.name, record["rule"])
        return old, layout.run_config(name)

    return find
