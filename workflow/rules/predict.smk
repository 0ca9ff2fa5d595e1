# Applying a selected model to whole volumes (DESIGN §8), one directory per target:
# LAYOUT.prediction_dir(target). Expects from common.smk:
#   LAYOUT       dacapo_flow.layout.Layout of the store
#   PREDICTIONS  target name -> dacapo_flow.predict.config.PredictionTarget
#   PLAN         run name -> planned run (.name, .source, .repetition, .config)
#
#   predict_prepare -> predict_shard x N -> segment_shard x N -> segment_merge
#                   -> relabel_shard x N -> predict_verify
# Without "segmentation" in a target's outputs, verify follows the predict shards directly.
# Shards resume by themselves (a manifest beside each shard JSON that Snakemake does not
# know about), so a killed or failed shard job is just run again. GPUs: like train_chunk, the
# profile asks for them (profiles/slurm set-resources: predict_shard: gpu: 1).
from snakemake.exceptions import WorkflowError

from dacapo_flow.config.base import ConfigError
from dacapo_flow.predict.config import resolve_dataset
from dacapo_flow.predict.paths import PredictionPaths


wildcard_constraints:
    target=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    shard=r"\d+",


# Path patterns with {target} (and {shard}) wildcards.
PREDICT = PredictionPaths(LAYOUT.prediction_dir("{target}"))


def predict_target(wildcards):
    if wildcards.target not in PREDICTIONS:
        raise WorkflowError(
            f"unknown prediction target {wildcards.target!r}; known: {sorted(PREDICTIONS)}"
        )
    return PREDICTIONS[wildcards.target]


def predict_paths(wildcards):
    return PredictionPaths(LAYOUT.prediction_dir(wildcards.target))


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
    """--run-config/--run/--repetition values, each its own param so the shell can quote it."""
    return {
        "run_config": lambda wildcards: str(predict_run(wildcards).source),
        "run": lambda wildcards: predict_run(wildcards).name,
        "repetition": lambda wildcards: predict_run(wildcards).repetition,
    }


def predict_hashes(wildcards):
    """The config hashes the prepared plan depends on (a change reruns prepare)."""
    target = predict_target(wildcards)
    return f"{target.prediction_hash()} {target.segmentation_hash()}"


def predict_targets():
    """The verified JSON of every prediction target (for `rule all`)."""
    return [
        PredictionPaths(LAYOUT.prediction_dir(name)).verified for name in PREDICTIONS
    ]


rule predict_prepare:
    input:
        unpack(predict_model),
    output:
        PREDICT.prepared,
    log:
        PREDICT.log("predict_prepare"),
    params:
        **predict_run_params(),
        target=lambda wildcards: predict_target(wildcards).model_dump_json(),
        zarr=lambda wildcards: predict_paths(wildcards).zarr,
        hashes=predict_hashes,
    shell:
        "dacapo-flow predict-prepare "
        "--run-config {params.run_config:q} --run {params.run:q} --repetition {params.repetition} "
        "--weights {input.weights:q} "
        "--best {input.best:q} --target-json {params.target:q} --zarr {params.zarr:q} "
        "--out {output:q} > {log:q} 2>&1"


rule predict_shard:
    input:
        prepared=PREDICT.prepared,
        weights=lambda wildcards: predict_model(wildcards)["weights"],
    output:
        PREDICT.shard("predict", "{shard}"),
    log:
        PREDICT.log("predict_shard", "{shard}"),
    # The forward pass; reading and writing overlap with it in two helper threads.
    threads: 2
    params:
        **predict_run_params(),
        shards=predict_shard_count,
    shell:
        "dacapo-flow predict-shard --prepared {input.prepared:q} "
        "--run-config {params.run_config:q} --run {params.run:q} --repetition {params.repetition} "
        "--weights {input.weights:q} --shard {wildcards.shard} --shards {params.shards} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule segment_shard:
    input:
        prepared=PREDICT.prepared,
        predictions=predict_shard_files("predict"),
    output:
        PREDICT.shard("segment", "{shard}"),
    log:
        PREDICT.log("segment_shard", "{shard}"),
    params:
        **predict_run_params(),
        shards=predict_shard_count,
        records=lambda wildcards: predict_paths(wildcards).records,
    shell:
        "dacapo-flow segment-shard --prepared {input.prepared:q} "
        "--run-config {params.run_config:q} --run {params.run:q} --repetition {params.repetition} "
        "--shard {wildcards.shard} --shards {params.shards} --records {params.records:q} "
        "--predictions {input.predictions:q} --out {output:q} > {log:q} 2>&1"


rule segment_merge:
    input:
        prepared=PREDICT.prepared,
        segments=predict_shard_files("segment"),
    output:
        merge=PREDICT.merge,
        lut=PREDICT.lut,
    log:
        PREDICT.log("segment_merge"),
    shell:
        "dacapo-flow segment-merge --prepared {input.prepared:q} --segments {input.segments:q} "
        "--lut {output.lut:q} --out {output.merge:q} > {log:q} 2>&1"


rule relabel_shard:
    input:
        prepared=PREDICT.prepared,
        merge=PREDICT.merge,
        lut=PREDICT.lut,
    output:
        PREDICT.shard("relabel", "{shard}"),
    log:
        PREDICT.log("relabel_shard", "{shard}"),
    params:
        shards=predict_shard_count,
    shell:
        "dacapo-flow relabel-shard --prepared {input.prepared:q} --merge {input.merge:q} "
        "--lut {input.lut:q} --shard {wildcards.shard} --shards {params.shards} "
        "--out {output:q} > {log:q} 2>&1"


rule predict_verify:
    input:
        prepared=PREDICT.prepared,
        predictions=predict_shard_files("predict"),
        relabels=predict_relabel_files,
    output:
        PREDICT.verified,
    log:
        PREDICT.log("predict_verify"),
    shell:
        "dacapo-flow predict-verify --prepared {input.prepared:q} "
        "--predictions {input.predictions:q} --relabels {input.relabels:q} "
        "--out {output:q} > {log:q} 2>&1"
