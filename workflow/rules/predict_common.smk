# Inputs and params of the prediction rules (predict.smk). Paths only, no torch; the one I/O
# is segment_merge's memory, from the input's metadata (voxel size, and ROI where none given).
from dacapo_flow.config.predictions import resolve_dataset
from dacapo_flow.predict.checks import merge_mem_mb


wildcard_constraints:
    target=NAME_REGEX,
    shard=r"\d+",


# Path patterns with {target} (and {shard}) wildcards.
PREDICT = LAYOUT.prediction("{target}")


def predict_target(wildcards):
    if wildcards.target not in PREDICTIONS:
        raise WorkflowError(
            f"unknown prediction target {wildcards.target!r}; known: {sorted(PREDICTIONS)}"
        )
    return PREDICTIONS[wildcards.target]


def predict_paths(wildcards):
    return LAYOUT.prediction(wildcards.target)


def predict_run(wildcards):
    target = predict_target(wildcards)
    if target.run not in PLAN:
        raise WorkflowError(
            f"prediction {target.name}: unknown run {target.run!r}; known: {sorted(PLAN)}"
        )
    return PLAN[target.run]


def predict_model(wildcards):
    """The selected model: the best JSON and weights of the target's run/dataset/criterion."""
    target, run = predict_target(wildcards), predict_run(wildcards)
    try:
        dataset = resolve_dataset(target, run.config.validation_dataset_names())
    except ConfigError as error:
        raise WorkflowError(str(error)) from None
    return {
        "weights": LAYOUT.best_weights(run.name, dataset, target.criterion),
        "best": LAYOUT.best_record(run.name, dataset, target.criterion),
    }


def segment_merge_mem_mb(wildcards, attempt):
    """The mutex watershed merge holds the target's region graph: its estimate, or 2000 MB."""
    return merge_mem_mb(predict_target(wildcards), predict_run(wildcards), attempt)


def predict_shard_count(wildcards):
    count = predict_target(wildcards).shards
    if "shard" in wildcards.keys() and int(wildcards.shard) >= count:
        raise WorkflowError(
            f"prediction {wildcards.target} has {count} shards, no shard {wildcards.shard}"
        )
    return count


def predict_shard_files(kind):
    def files(wildcards):
        return predict_paths(wildcards).shards(kind, predict_shard_count(wildcards))

    return files


def predict_relabel_files(wildcards):
    if "segmentation" not in predict_target(wildcards).outputs:
        return []
    return predict_shard_files("relabel")(wildcards)


def predict_run_params():
    """--run-config: the resolved config of the target's run."""
    return {
        "run_config": lambda wildcards: LAYOUT.run_config(predict_run(wildcards).name)
    }


def predict_hashes(wildcards):
    """The config hashes the prepared plan depends on (a change reruns prepare)."""
    target = predict_target(wildcards)
    return f"{target.prediction_hash()} {target.segmentation_hash()}"


def predict_targets():
    """The verified JSON of every prediction target (for `rule all`)."""
    return [LAYOUT.prediction(name).verified for name in PREDICTIONS]
