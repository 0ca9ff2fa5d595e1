# dacapo-flow: data -> train -> validate -> select-best -> export, predict -> report;
# every stage a cached file target.
# Thin wiring only; rules live in workflow/rules, logic in the dacapo_flow library.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        export_targets(),
        predict_targets(),
        rules.report_outputs.input,


onsuccess:
    from dacapo_flow.report.summary import print_summary

    print_summary(LAYOUT, PLAN, PREDICTIONS)
