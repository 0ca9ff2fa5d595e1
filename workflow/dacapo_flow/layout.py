"""The store layout (DESIGN §4): the one place that turns names into store paths.

`common.smk` builds every rule's input and output from these functions, and the library only
ever receives the resulting paths. No torch, no I/O: this module is imported while Snakemake
parses the workflow.

    <store>/<run>/checkpoints/iterations/<N>       checkpoint after N optimizer steps
    <store>/<run>/checkpoints/model/<N>.pt, .json  its model part, and that file's digest
    <store>/<run>/training_stats/<N>.nc            stats of the chunk ending at N
    <store>/<run>/validation_scores/<N>.nc         scores of checkpoint N
    <store>/<run>/training_stats.nc                all chunks' stats, in order
    <store>/<run>/validation_scores.nc             all checkpoints' scores
    <store>/<run>/<dataset>/<criterion>.json       best iteration for that criterion
    <store>/<run>/<dataset>/<criterion>.pt         the winning model weights (a copy)
    <store>/<run>/exports/<dataset>/<criterion>/   bioimage.io package, cellmap-flow script
    <store>/<run>/normalisation/<dataset>.json     percentile range of a dataset's raw
    <store>/<run>/logs/<rule>/...                  one log per job
    <store>/<run>/tmp/                             scratch (validation predictions)
    <store>/predictions/<target>/...               applied models (see `prediction_dir`)
    <store>/<run>/sweep.json                       grid point, repetition, start (report)
    <store>/report/leaderboard/<dataset>/<criterion>.<csv|md|tex|html>
    <store>/report/curves/<run>.<png|svg>
    <store>/report/lineage.<json|md|png|svg>
    <store>/report/results/<run>.html
    <store>/report/validation/<run>/<dataset>.png
    <store>/report/predictions/<target>.png
    <store>/report/logs/<rule>/...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# Names become directory and file names, and the workflow's wildcards must match them.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_REGEX = NAME_PATTERN[1:-1]
# Store directories that are not runs; a run may not take these names.
RESERVED_RUN_NAMES = ("predictions", "report")
# A run wildcard: a name, but never a reserved directory (the lookahead sees the "/" after it).
RUN_REGEX = "(?!(?:" + "|".join(RESERVED_RUN_NAMES) + ")/)" + NAME_REGEX
# Directories of a run that are not validation datasets; a dataset may not take these names.
RESERVED_DATASET_NAMES = (
    "checkpoints",
    "exports",
    "logs",
    "normalisation",
    "tmp",
    "training_stats",
    "validation_scores",
)
DATASET_REGEX = "(?!(?:" + "|".join(RESERVED_DATASET_NAMES) + ")/)" + NAME_REGEX


def component(name: object, what: str = "name") -> str:
    """`name` as one path component; refuses what would escape, nest or break a wildcard."""
    text = str(name)
    if not text or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise ValueError(f"{what} {text!r} cannot be used as a file name in the store")
    return text


def iteration_name(iteration: object) -> str:
    """A checkpoint number as its file name: an int >= 0 or a string of ASCII digits (or a
    Snakemake wildcard such as "{iteration}", for rule patterns)."""
    if isinstance(iteration, str) and iteration.isdigit() and iteration.isascii():
        return str(int(iteration))
    if isinstance(iteration, str) and re.fullmatch(r"\{\w+\}", iteration):
        return iteration
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise ValueError(f"iteration must be an int >= 0, got {iteration!r}")
    return str(iteration)


class Layout:
    """Paths of one store. All methods return `str` (what Snakemake wants); wrap in `Path`
    where a `Path` is needed. `Layout("results/store").checkpoint("run", 100)`."""

    def __init__(self, store: str | os.PathLike):
        self.store = str(store).rstrip("/") or "."

    def __repr__(self) -> str:
        return f"Layout({self.store!r})"

    def _join(self, *parts: str) -> str:
        return "/".join((self.store, *parts))

    # --- one run -------------------------------------------------------------------------
    def run_dir(self, run: str) -> str:
        return self._join(component(run, "run name"))

    def run_config(self, run: str) -> str:
        """The run's resolved config (name, repetition and grid point applied): what every
        job of the run reads, written by the `run_config` rule from the workflow's plan."""
        return f"{self.run_dir(run)}/run_config.yaml"

    def checkpoint(self, run: str, iteration: object) -> str:
        return f"{self.run_dir(run)}/checkpoints/iterations/{iteration_name(iteration)}"

    def checkpoint_model(self, run: str, iteration: object) -> str:
        """The model part of checkpoint `iteration` (see `checkpoint_model_file`)."""
        return f"{self.run_dir(run)}/checkpoints/model/{iteration_name(iteration)}.pt"

    def chunk_stats(self, run: str, iteration: object) -> str:
        return f"{self.run_dir(run)}/training_stats/{iteration_name(iteration)}.nc"

    def checkpoint_scores(self, run: str, iteration: object) -> str:
        return f"{self.run_dir(run)}/validation_scores/{iteration_name(iteration)}.nc"

    def training_stats(self, run: str) -> str:
        return f"{self.run_dir(run)}/training_stats.nc"

    def validation_scores(self, run: str) -> str:
        return f"{self.run_dir(run)}/validation_scores.nc"

    def best_record(self, run: str, dataset: str, criterion: str) -> str:
        return f"{self._best_stem(run, dataset, criterion)}.json"

    def best_weights(self, run: str, dataset: str, criterion: str) -> str:
        return f"{self._best_stem(run, dataset, criterion)}.pt"

    def _best_stem(self, run: str, dataset: str, criterion: str) -> str:
        dataset = component(dataset, "dataset name")
        criterion = component(criterion, "criterion")
        return f"{self.run_dir(run)}/{dataset}/{criterion}"

    def export_dir(self, run: str, dataset: str, criterion: str) -> str:
        """Where the selected model of (`dataset`, `criterion`) is exported."""
        dataset = component(dataset, "dataset name")
        criterion = component(criterion, "criterion")
        return f"{self.run_dir(run)}/exports/{dataset}/{criterion}"

    def normalisation(self, run: str, dataset: str) -> str:
        """The raw intensity range of a dataset normalised by percentiles, computed once."""
        return f"{self.run_dir(run)}/normalisation/{component(dataset, 'dataset name')}.json"

    def scratch(self, run: str) -> str:
        return f"{self.run_dir(run)}/tmp"

    def log(self, run: str, rule: str, *parts: object) -> str:
        """`<run>/logs/<rule>/<parts...>.log` (or `<run>/logs/<rule>.log` without parts)."""
        names = [component(p, "log name") for p in parts]
        if not names:
            return f"{self.run_dir(run)}/logs/{component(rule)}.log"
        return "/".join((self.run_dir(run), "logs", component(rule), *names)) + ".log"

    # --- beyond one run ------------------------------------------------------------------
    def prediction_dir(self, target: str) -> str:
        return self._join("predictions", component(target, "prediction target"))

    def prediction(self, target: str) -> PredictionPaths:
        """The files of one prediction target (see `PredictionPaths`)."""
        return PredictionPaths(self.prediction_dir(target))

    def sweep_metadata(self, run: str) -> str:
        """A run's grid point, repetition and start (for the report)."""
        return f"{self.run_dir(run)}/sweep.json"

    def report_dir(self) -> str:
        return self._join("report")

    def leaderboard(self, dataset: str, criterion: str, ext: str) -> str:
        dataset, criterion = component(dataset, "dataset name"), component(criterion, "criterion")
        return f"{self.report_dir()}/leaderboard/{dataset}/{criterion}.{ext}"

    def curves(self, run: str, ext: str) -> str:
        return f"{self.report_dir()}/curves/{component(run, 'run name')}.{ext}"

    def lineage(self, ext: str) -> str:
        return f"{self.report_dir()}/lineage.{ext}"

    def results(self, run: str) -> str:
        """A run's selected checkpoints and scores (the report's first section)."""
        return f"{self.report_dir()}/results/{component(run, 'run name')}.html"

    def validation_picture(self, run: str, dataset: str) -> str:
        run, dataset = component(run, "run name"), component(dataset, "dataset name")
        return f"{self.report_dir()}/validation/{run}/{dataset}.png"

    def prediction_preview(self, target: str) -> str:
        return f"{self.report_dir()}/predictions/{component(target, 'prediction target')}.png"

    def report_log(self, rule: str, *parts: object) -> str:
        """`<store>/report/logs/<rule>/<parts...>.log` (or `<rule>.log` without parts)."""
        names = [component(rule), *(component(p, "log name") for p in parts)]
        return "/".join((self.report_dir(), "logs", *names)) + ".log"


SHARD_KINDS = ("predict", "segment", "relabel")


class PredictionPaths:
    """Files inside one prediction target's directory:

    <dir>/prepared.json                    the plan every later job reads
    <dir>/output.zarr/                     OME-Zarr outputs
    <dir>/shards/<kind>_<i>.json           a finished shard (predict, segment, relabel)
    <dir>/records/, merge.json, lut.npz    face records and merged equivalences
    <dir>/verified.json                    written only when every block checks out
    <dir>/logs/<job>.log
    """

    def __init__(self, directory: str | os.PathLike):
        self.dir = str(directory).rstrip("/") or "."

    def __repr__(self) -> str:
        return f"PredictionPaths({self.dir!r})"

    @property
    def prepared(self) -> str:
        return f"{self.dir}/prepared.json"

    @property
    def zarr(self) -> str:
        return f"{self.dir}/output.zarr"

    def shard(self, kind: str, shard: object) -> str:
        if kind not in SHARD_KINDS:
            raise ValueError(f"unknown shard kind {kind!r}; known: {SHARD_KINDS}")
        return f"{self.dir}/shards/{kind}_{shard}.json"

    def shards(self, kind: str, count: int) -> list[str]:
        return [self.shard(kind, i) for i in range(count)]

    @property
    def records(self) -> str:
        return f"{self.dir}/records"

    @property
    def merge(self) -> str:
        return f"{self.dir}/merge.json"

    @property
    def lut(self) -> str:
        return f"{self.dir}/lut.npz"

    @property
    def verified(self) -> str:
        return f"{self.dir}/verified.json"

    def log(self, job: str, shard: object | None = None) -> str:
        suffix = "" if shard is None else f"_{shard}"
        return f"{self.dir}/logs/{job}{suffix}.log"


def manifest_path(shard_json: str | os.PathLike) -> str:
    """The resume manifest kept beside a shard's final JSON: `x.json` -> `x.progress.json`."""
    return f"{os.fspath(shard_json).removesuffix('.json')}.progress.json"


def export_paths(base: str) -> dict[str, str]:
    """Output files of one export, in its directory `base` (`Layout.export_dir`)."""
    return {
        "bioimageio": f"{base}/bioimageio.zip",
        "cellmap_flow": f"{base}/cellmap_flow.py",
        "cellmap_flow_weights": f"{base}/cellmap_flow_weights.pt",
    }


def iteration_of(path: str | os.PathLike) -> int:
    """The iteration a per-iteration file is named after (`.../iterations/100`, `100.nc`)."""
    stem = Path(path).name.split(".")[0]
    if not (stem.isdigit() and stem.isascii()):
        raise ValueError(f"{path} is not named after an iteration")
    return int(stem)


def checkpoint_model_file(checkpoint: str | os.PathLike) -> str | None:
    """Where the chunk that writes `checkpoint` (`<run>/checkpoints/iterations/<N>`) leaves its
    model part, `Layout.checkpoint_model`: a sibling directory, since DaCapo reads every name in
    `iterations/` as a number. Never a Snakemake output (older stores lack it). None for a file
    outside a store's layout."""
    path = Path(checkpoint)
    name, parent = path.name, path.parent
    if not (name.isdigit() and name.isascii()) or parent.name != "iterations":
        return None
    if parent.parent.name != "checkpoints":
        return None
    return os.fspath(parent.parent / "model" / f"{int(name)}.pt")


def emergency_state(checkpoint: str | os.PathLike) -> str:
    """Where a chunk interrupted on its way to `checkpoint` leaves its state: beside it, never
    a Snakemake output (the chunk's retry reads and removes it)."""
    return f"{os.fspath(checkpoint)}.emergency"
