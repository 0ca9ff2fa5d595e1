# Sharing selected models: one `export` job per entry of `exports:` in config/config.yaml,
#   exports:
#     - {run: distance, dataset: validate_0, criterion: mito__dice}
#     - {run: finetune, dataset: validate_0, criterion: mito__voi}
# writing <store>/<run>/exports/<dataset>/<criterion>/{bioimageio.zip, cellmap_flow.py,
# cellmap_flow_weights.pt}. Inputs are the best weights and best record the selection wrote;
# common.smk provides LAYOUT (dacapo_flow.layout.Layout), PLAN and run_of.
from dacapo_flow.export.targets import ExportEntry, check_exports, export_paths

EXPORTS = [ExportEntry.model_validate(entry) for entry in config.get("exports") or []]
try:
    check_exports(EXPORTS, PLAN)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}") from None


def export_targets():
    """Files of every requested export (add to `rule all`)."""
    targets = []
    for entry in EXPORTS:
        paths = export_paths(LAYOUT.run_dir(entry.run), entry.dataset, entry.criterion)
        targets += [paths["bioimageio"], paths["cellmap_flow"]]
    return targets


def export_inputs(wildcards):
    return {
        "weights": LAYOUT.best_weights(
            wildcards.run, wildcards.dataset, wildcards.criterion
        ),
        "best": LAYOUT.best_record(
            wildcards.run, wildcards.dataset, wildcards.criterion
        ),
    }


def export_run_config(wildcards):
    return str(run_of(wildcards).source)


def export_repetition(wildcards):
    return run_of(wildcards).repetition


def export_upstream(wildcards):
    upstream = run_of(wildcards).upstream
    return f"--upstream {upstream}" if upstream else ""


_EXPORT = export_paths(f"{LAYOUT.store}/{{run}}", "{dataset}", "{criterion}")


rule export:
    input:
        unpack(export_inputs),
    output:
        bioimageio=_EXPORT["bioimageio"],
        cellmap_flow=_EXPORT["cellmap_flow"],
        cellmap_flow_weights=_EXPORT["cellmap_flow_weights"],
    log:
        f"{LAYOUT.store}/{{run}}/logs/export/{{dataset}}/{{criterion}}.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    threads: 1
    params:
        run_config=export_run_config,
        repetition=export_repetition,
        upstream=export_upstream,
    shell:
        "dacapo-flow export --run-config {params.run_config:q} --run {wildcards.run:q} "
        "--repetition {params.repetition} --weights {input.weights:q} --best {input.best:q} "
        "--bioimageio-zip {output.bioimageio:q} --cellmap-flow {output.cellmap_flow:q} "
        "{params.upstream} > {log:q} 2>&1"
