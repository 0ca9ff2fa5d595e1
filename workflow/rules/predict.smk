# Applying a selected model to whole volumes (DESIGN §8), one directory per target:
# LAYOUT.prediction_dir(target). Expects from common.smk:
#   LAYOUT       dacapo_flow.layout.Layout of the store
#   PREDICTIONS  target name -> dacapo_flow.config.predictions.PredictionTarget (from
#                `predictions:` in config/config.yaml)
#   PLAN         run name -> planned run (.name, .source, .repetition, .config)
#
#   predict_prepare -> predict_shard x N -> segment_shard x N -> segment_merge
#                   -> relabel_shard x N -> predict_verify
# Without "segmentation" in a target's outputs, verify follows the predict shards directly.
# Shards resume by themselves (a manifest beside each shard JSON that Snakemake does not
# know about), so a killed or failed shard job is just run again. GPUs: like train_chunk, the
# profile asks for them (profiles/slurm set-resources: predict_shard: gpu: 1).


include: "predict_common.smk"


rule predict_prepare:
    input:
        unpack(predict_model),
        unpack(data_inputs),
    output:
        PREDICT.prepared,
    log:
        PREDICT.log("predict_prepare"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        **predict_run_params(),
        target=lambda wildcards: predict_target(wildcards).model_dump_json(),
        zarr=lambda wildcards: predict_paths(wildcards).zarr,
        hashes=predict_hashes,
    shell:
        "dacapo-flow predict-prepare "
        "--run-config {params.run_config:q} "
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
    conda:
        "../../envs/dacapo-flow.yaml"
    # The forward pass; reading and writing overlap with it in two helper threads.
    threads: 2
    params:
        **predict_run_params(),
        shards=predict_shard_count,
    shell:
        "dacapo-flow predict-shard --prepared {input.prepared:q} "
        "--run-config {params.run_config:q} "
        "--weights {input.weights:q} --shard {wildcards.shard} --shards {params.shards:q} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule segment_shard:
    input:
        prepared=PREDICT.prepared,
        predictions=predict_shard_files("predict"),
    output:
        PREDICT.shard("segment", "{shard}"),
    log:
        PREDICT.log("segment_shard", "{shard}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        **predict_run_params(),
        shards=predict_shard_count,
        records=lambda wildcards: predict_paths(wildcards).records,
    shell:
        "dacapo-flow segment-shard --prepared {input.prepared:q} "
        "--run-config {params.run_config:q} "
        "--shard {wildcards.shard} --shards {params.shards:q} --records {params.records:q} "
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
    conda:
        "../../envs/dacapo-flow.yaml"
    resources:
        mem_mb=segment_merge_mem_mb,
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
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        shards=predict_shard_count,
    shell:
        "dacapo-flow relabel-shard --prepared {input.prepared:q} --merge {input.merge:q} "
        "--lut {input.lut:q} --shard {wildcards.shard} --shards {params.shards:q} "
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
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow predict-verify --prepared {input.prepared:q} "
        "--predictions {input.predictions:q} --relabels {input.relabels:q} "
        "--out {output:q} > {log:q} 2>&1"
