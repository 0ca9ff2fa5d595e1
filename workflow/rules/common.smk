# Run plan and input/param helpers shared by the rules. No torch here: this is parsed by
# every job, so it must stay cheap.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.datasplits import pending_outputs
from dacapo_flow.config.workflow_config import load_plan, start_dataset

validate(config, "../schemas/config.schema.yaml")

STORE = str(config.get("store", "results/store")).rstrip("/")
SYNTHETIC = config.get("synthetic_data")

try:
    with pending_outputs([SYNTHETIC] if SYNTHETIC else []):
        PLAN = load_plan(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}") from None


wildcard_constraints:
    run=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    iteration=r"\d+",
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    criterion=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


def run_of(wildcards):
    if wildcards.run not in PLAN:
        raise WorkflowError(f"unknown run {wildcards.run!r}; known: {sorted(PLAN)}")
    return PLAN[wildcards.run]


def checkpoint_path(run, iteration):
    return f"{STORE}/{run}/checkpoints/iterations/{iteration}"


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
    start = run.config.start_config
    if previous:
        inputs["previous"] = checkpoint_path(run.name, previous)
    elif start is not None and start.criterion.isdigit():
        inputs["start"] = checkpoint_path(start.run, start.criterion)
    elif start is not None:
        dataset = start_dataset(run, PLAN)
        inputs["start"] = f"{STORE}/{start.run}/{dataset}/{start.criterion}.json"
    return inputs


def run_args(wildcards):
    run = run_of(wildcards)
    return f"--run-config {run.source} --run {run.name} --repetition {run.repetition}"


def init_args(wildcards, input):
    if "previous" in input.keys():
        return f"--previous {input.previous}"
    if "start" in input.keys():
        return f"--start {input.start}"
    return ""


def store_of(levels):
    """The store directory, read off the rule's first output `levels` directories below it."""
    return lambda wildcards, output: str(Path(output[0]).parents[levels])


def stage_hash(stage):
    return lambda wildcards: run_of(wildcards).config.stage_hash(stage)


def training_stats_files(wildcards):
    iterations = run_of(wildcards).config.iterations()
    return [f"{STORE}/{wildcards.run}/training_stats/{i}.nc" for i in iterations]


def validation_score_files(wildcards):
    run = run_of(wildcards)
    if not run.config.validation_dataset_names():
        return []
    return [
        f"{STORE}/{run.name}/validation_scores/{i}.nc" for i in run.config.iterations()
    ]


def run_targets(run):
    name, config = run.name, run.config
    targets = [
        f"{STORE}/{name}/training_stats.nc",
        checkpoint_path(name, config.iterations()[-1]),
    ]
    datasets = config.validation_dataset_names()
    targets.append(f"{STORE}/{name}/validation_scores.nc")
    for dataset in datasets:
        for criterion in config.selected_criteria():
            targets.append(f"{STORE}/{name}/{dataset}/{criterion}.json")
    return targets


def all_targets():
    return [target for run in PLAN.values() for target in run_targets(run)]
