# Inputs and params of the report rules (report.smk), built by dacapo_flow.report.targets
# from the run plan and the store layout. Cheap: paths only, no I/O, no torch.
from dacapo_flow.report import targets as report_targets_lib


def sweep_metadata_args(wildcards):
    return report_targets_lib.sweep_metadata_args(run_of(wildcards), PLAN)


def leaderboard_inputs(wildcards):
    return report_targets_lib.leaderboard_inputs(
        LAYOUT, PLAN, wildcards.dataset, wildcards.criterion
    )


def curves_inputs(wildcards):
    return report_targets_lib.curves_inputs(LAYOUT, run_of(wildcards))


def lineage_inputs(wildcards):
    inputs = report_targets_lib.lineage_inputs(LAYOUT, PLAN)
    inputs.pop("start_runs")
    return inputs


def lineage_start_runs(wildcards):
    return report_targets_lib.lineage_inputs(LAYOUT, PLAN)["start_runs"]


def results_inputs(wildcards):
    return report_targets_lib.results_inputs(LAYOUT, run_of(wildcards))


def validation_picture_inputs(wildcards):
    return report_targets_lib.validation_picture_inputs(
        LAYOUT, run_of(wildcards), wildcards.dataset
    )
