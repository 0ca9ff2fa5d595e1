# Sharing selected models: one `export` job per entry of `exports:` in config/config.yaml,
#   exports:
#     - {run: distance, dataset: validate_0, criterion: mito__dice}
#     - {run: finetune, dataset: validate_0, criterion: mito__voi}
# writing <store>/<run>/exports/<dataset>/<criterion>/{bioimageio.zip, cellmap_flow.py,
# cellmap_flow_weights.pt}. Inputs are the best weights and best record the selection wrote,
# and the normalisation record of <dataset> where its raw uses percentiles; common.smk
# provides LAYOUT (dacapo_flow.layout.Layout), PLAN, run_of and the export_* helpers.
rule export:
    input:
        unpack(export_inputs),
    output:
        bioimageio=_EXPORT["bioimageio"],
        cellmap_flow=_EXPORT["cellmap_flow"],
        cellmap_flow_weights=_EXPORT["cellmap_flow_weights"],
    log:
        LAYOUT.log("{run}", "export", "{dataset}", "{criterion}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    threads: 1
    params:
        run_config=run_config_file,
        options=export_args,
    shell:
        "dacapo-flow export --run-config {params.run_config:q} "
        "--weights {input.weights:q} --best {input.best:q} "
        "--bioimageio-zip {output.bioimageio:q} --cellmap-flow {output.cellmap_flow:q} "
        "--cellmap-flow-weights {output.cellmap_flow_weights:q} "
        "{params.options:q} > {log:q} 2>&1"
