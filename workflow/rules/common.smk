# Run plan and input/param helpers shared by the rules. Every store path comes from the
# layout module (dacapo_flow.layout); rules hand the CLI these paths, quoted. No torch here:
# this is parsed by every job, so it must stay cheap.
import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.loading import read_yaml
from dacapo_flow.config.datasplits import pending_outputs
from dacapo_flow.config.exports import (
    ExportEntry,
    export_paths,
    selection_dataset_config,
)
from dacapo_flow.config.predictions import PredictionTarget
from dacapo_flow.plan.runs import load_plan, plan_warnings
from dacapo_flow.predict.checks import target_warnings
from dacapo_flow.plan.starts import start_file
from dacapo_flow.layout import DATASET_REGEX, NAME_REGEX, RUN_REGEX, Layout
from dacapo_flow.store.run_config_file import write_run_config
from dacapo_flow.store.snakemake_records import run_finder, upgrade_records

try:
    # Snakemake's YAML loader keeps the last of duplicate keys silently; ours refuses them.
    for configfile_path in workflow.configfiles:
        read_yaml(configfile_path)
    SYNTHETIC = config.get("synthetic_data")
    # Not a string: load_plan names the key.
    with pending_outputs([SYNTHETIC] if isinstance(SYNTHETIC, str) else []):
        # Data checks open every array: once, in the main process, not in every cluster job.
        PLAN = load_plan(config, check_data=workflow.is_main_process)
    # Checked by load_plan; by (run, dataset, criterion), the export job's wildcards.
    EXPORTS = {
        (e.run, e.dataset, e.criterion): e
        for e in map(ExportEntry.model_validate, config.get("exports") or [])
    }
    PREDICTIONS = {
        target.name: target
        for target in map(
            PredictionTarget.model_validate, config.get("predictions") or []
        )
    }
except ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}") from None
# After the library's checks, which name the file and key path in plain words: the schema
# (generated from the same models) then passes, and never shows raw JSON-schema text.
validate(config, "../schemas/config.schema.yaml")
LAYOUT = Layout(config.get("store", "results/store"))
if workflow.is_main_process:
    for warning in plan_warnings(PLAN) + target_warnings(
        list(PREDICTIONS.values()), PLAN, "config/config.yaml"
    ):
        logger.warning(f"warning: {warning}")
    # Each run's resolved config, which its jobs read (--run-config), rewritten only when
    # the plan changed it. A run without the file yet may have Snakemake records of jobs
    # from before it existed: those are upgraded (only then is .snakemake/metadata read).
    NEW_RUNS = {
        name: run
        for name, run in PLAN.items()
        if not os.path.exists(LAYOUT.run_config(name))
    }
    for planned in PLAN.values():
        write_run_config(
            planned.config, LAYOUT.run_config(planned.name), planned.source
        )
    UPGRADED = (
        upgrade_records(
            run_finder(NEW_RUNS, LAYOUT, {t.name: t.run for t in PREDICTIONS.values()})
        )
        if NEW_RUNS
        else []
    )
    if UPGRADED:
        logger.info(
            f"upgraded Snakemake's records of {len(UPGRADED)} outputs to read their run's "
            "run_config.yaml; nothing reruns for it"
        )


wildcard_constraints:
    run=RUN_REGEX,
    iteration=r"\d+",
    dataset=DATASET_REGEX,
    criterion=NAME_REGEX,


def run_of(wildcards):
    if wildcards.run not in PLAN:
        raise WorkflowError(f"unknown run {wildcards.run!r}; known: {sorted(PLAN)}")
    return PLAN[wildcards.run]


def previous_iteration(wildcards):
    """The checkpoint a chunk starts from, or 0 at the start of the run."""
    iterations = run_of(wildcards).config.iterations()
    iteration = int(wildcards.iteration)
    if iteration not in iterations:
        raise WorkflowError(
            f"run {wildcards.run!r} has no checkpoint {iteration}; its checkpoints are "
            f"{iterations}"
        )
    index = iterations.index(iteration)
    return iterations[index - 1] if index else 0


def data_inputs(wildcards):
    return {"data": f"{SYNTHETIC}/manifest.json"} if SYNTHETIC else {}


def train_chunk_inputs(wildcards):
    inputs = data_inputs(wildcards)
    previous = previous_iteration(wildcards)
    run = run_of(wildcards)
    if previous:
        inputs["previous"] = LAYOUT.checkpoint(run.name, previous)
    elif run.config.start_config is not None:
        inputs["start"] = start_file(run, PLAN, LAYOUT)
    return inputs


def init_args(wildcards, input):
    """["--previous", FILE], ["--start", FILE] or [] (train.smk quotes each item with :q)."""
    for key in ("previous", "start"):
        if key in input.keys():
            return [f"--{key}", str(input[key])]
    return []


def run_config_file(wildcards):
    """The run's resolved config, which the main process wrote (see the top of this file)."""
    return LAYOUT.run_config(run_of(wildcards).name)


def stage_hash(stage):
    return lambda wildcards: run_of(wildcards).config.stage_hash(stage)


def upstream_hash(wildcards):
    """A finetune's weights depend on its upstream's training: a retrained upstream must
    retrain the finetune even when its best record happens to come out the same."""
    hashes, run = [], run_of(wildcards)
    while run.upstream is not None:
        run = PLAN[run.upstream]
        hashes.append(run.config.stage_hash("train"))
    return ",".join(hashes)


def training_stats_files(wildcards):
    iterations = run_of(wildcards).config.iterations()
    return [LAYOUT.chunk_stats(wildcards.run, i) for i in iterations]


def validation_score_files(wildcards):
    run = run_of(wildcards)
    if not run.config.validation_dataset_names():
        return []
    return [LAYOUT.checkpoint_scores(run.name, i) for i in run.config.iterations()]


def checkpoint_files(wildcards):
    """Every checkpoint of a run: selection copies the winner's weights from one of them.
    A param, not an input: a deleted old checkpoint must not retrain the run."""
    run = run_of(wildcards)
    return [LAYOUT.checkpoint(run.name, i) for i in run.config.iterations()]


def normalisation_files(group):
    """Recorded percentile ranges of a run's train or validate datasets that use them."""

    def files(wildcards):
        run = run_of(wildcards)
        datasets = getattr(run.config.datasplit_config, f"{group}_configs")
        return [
            LAYOUT.normalisation(run.name, d.name)
            for d in datasets
            if d.raw.percentiles is not None
        ]

    return files


def run_targets(run):
    name, config = run.name, run.config
    targets = [
        LAYOUT.training_stats(name),
        LAYOUT.checkpoint(name, config.iterations()[-1]),
        LAYOUT.validation_scores(name),
    ]
    for dataset in config.validation_dataset_names():
        for criterion in config.selected_criteria():
            targets.append(LAYOUT.best_record(name, dataset, criterion))
            targets.append(LAYOUT.best_weights(name, dataset, criterion))
    return targets


def all_targets():
    return [target for run in PLAN.values() for target in run_targets(run)]


# --- exports (export.smk) ------------------------------------------------------------------


def export_targets():
    """Files of every requested export (add to `rule all`)."""
    targets = []
    for run, dataset, criterion in EXPORTS:
        paths = export_paths(LAYOUT.export_dir(run, dataset, criterion))
        targets += [paths["bioimageio"], paths["cellmap_flow"]]
    return targets


def _selection_raw(wildcards):
    try:
        config = selection_dataset_config(run_of(wildcards).config, wildcards.dataset)
    except ValueError as error:
        raise WorkflowError(str(error)) from None
    return config.raw


def export_inputs(wildcards):
    """The winner's weights and best record, and the recorded percentile range of the
    dataset it was selected on (what validation normalised with) where there is one."""
    inputs = {
        "weights": LAYOUT.best_weights(
            wildcards.run, wildcards.dataset, wildcards.criterion
        ),
        "best": LAYOUT.best_record(
            wildcards.run, wildcards.dataset, wildcards.criterion
        ),
    }
    if _selection_raw(wildcards).percentiles is not None:
        inputs["normalisation"] = LAYOUT.normalisation(wildcards.run, wildcards.dataset)
    return inputs


def export_args(wildcards, input):
    """Optional `dacapo-flow export` arguments (export.smk quotes each item with :q): the
    upstream of a finetune, the normalisation record, the entry's author / license / cite.
    """
    args = []
    upstream = run_of(wildcards).upstream
    if upstream is not None:
        args += ["--upstream", upstream]
    if "normalisation" in input.keys():
        args += ["--normalisation", str(input["normalisation"])]
    entry = EXPORTS.get((wildcards.run, wildcards.dataset, wildcards.criterion))
    return args + (entry.cli_args() if entry is not None else [])


_EXPORT = export_paths(LAYOUT.export_dir("{run}", "{dataset}", "{criterion}"))
