# Paper outputs (DESIGN §9): leaderboards per (validation dataset, criterion), curves per run,
# the lineage of finetunes. Reads only stats, scores and best JSONs: nothing here trains or
# validates. Needs LAYOUT, PLAN and run_of from common.smk; input helpers in report_common.smk.


include: "report_common.smk"


localrules:
    sweep_metadata,
    leaderboard,
    curves,
    lineage,
    results,
    prediction_preview,
    report_outputs,


rule sweep_metadata:
    output:
        LAYOUT.sweep_metadata("{run}"),
    log:
        LAYOUT.log("{run}", "sweep_metadata"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        args=sweep_metadata_args,
    shell:
        "dacapo-flow sweep-metadata --out {output:q} {params.args:q} > {log:q} 2>&1"


rule leaderboard:
    input:
        unpack(leaderboard_inputs),
    output:
        csv=LAYOUT.leaderboard("{dataset}", "{criterion}", "csv"),
        html=report(
            LAYOUT.leaderboard("{dataset}", "{criterion}", "html"),
            caption="../report/leaderboard.rst",
            category="4. Leaderboards",
            subcategory="{dataset}",
            labels={"criterion": "{criterion}"},
        ),
        md=LAYOUT.leaderboard("{dataset}", "{criterion}", "md"),
        tex=LAYOUT.leaderboard("{dataset}", "{criterion}", "tex"),
    log:
        LAYOUT.report_log("leaderboard", "{dataset}", "{criterion}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow report-leaderboard --dataset {wildcards.dataset:q} "
        "--criterion {wildcards.criterion:q} --best {input.best:q} --sweep {input.sweep:q} "
        "--csv {output.csv:q} --html {output.html:q} --md {output.md:q} --tex {output.tex:q} "
        "> {log:q} 2>&1"


rule curves:
    input:
        unpack(curves_inputs),
    output:
        png=LAYOUT.curves("{run}", "png"),
        svg=report(
            LAYOUT.curves("{run}", "svg"),
            caption="../report/curves.rst",
            category="5. Curves",
            labels={"run": "{run}"},
        ),
    log:
        LAYOUT.report_log("curves", "{run}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow report-curves --title {wildcards.run:q} --stats {input.stats:q} "
        "--scores {input.scores:q} --best {input.best:q} "
        "--out-png {output.png:q} --out-svg {output.svg:q} > {log:q} 2>&1"


rule lineage:
    input:
        unpack(lineage_inputs),
    output:
        json=LAYOUT.lineage("json"),
        md=LAYOUT.lineage("md"),
        png=LAYOUT.lineage("png"),
        svg=report(
            LAYOUT.lineage("svg"),
            caption="../report/lineage.rst",
            category="6. Lineage",
            labels={"figure": "lineage"},
        ),
    log:
        LAYOUT.report_log("lineage"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        start_runs=lineage_start_runs,
    shell:
        "dacapo-flow report-lineage --sweep {input.sweep:q} "
        "--start-best {input.start_best:q} --start-run {params.start_runs:q} "
        "--json {output.json:q} --md {output.md:q} "
        "--out-png {output.png:q} --out-svg {output.svg:q} > {log:q} 2>&1"


rule results:
    input:
        unpack(results_inputs),
    output:
        report(
            LAYOUT.results("{run}"),
            caption="../report/results.rst",
            category="1. Results",
            labels={"run": "{run}"},
        ),
    log:
        LAYOUT.report_log("results", "{run}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow report-results --run {wildcards.run:q} --sweep {input.sweep:q} "
        "--best {input.best:q} --out {output:q} > {log:q} 2>&1"


rule validation_picture:
    input:
        unpack(validation_picture_inputs),
        unpack(data_inputs),
        normalisation=normalisation_files("validate"),
    output:
        report(
            LAYOUT.validation_picture("{run}", "{dataset}"),
            caption="../report/validation_picture.rst",
            category="2. Validation",
            subcategory="{dataset}",
            labels={"run": "{run}", "dataset": "{dataset}"},
        ),
    log:
        LAYOUT.report_log("validation_picture", "{run}", "{dataset}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    threads: 1
    params:
        run_config=run_config_file,
    shell:
        "dacapo-flow report-validation-picture --run-config {params.run_config:q} "
        "--dataset {wildcards.dataset:q} --best {input.best:q} --weights {input.weights:q} "
        "--threads {threads} --normalisation {input.normalisation:q} --out {output:q} "
        "> {log:q} 2>&1"


rule prediction_preview:
    input:
        prepared=PREDICT.prepared,
        verified=PREDICT.verified,
    output:
        report(
            LAYOUT.prediction_preview("{target}"),
            caption="../report/prediction_preview.rst",
            category="3. Predictions",
            labels={"target": "{target}"},
        ),
    log:
        LAYOUT.report_log("prediction_preview", "{target}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow report-prediction-preview --prepared {input.prepared:q} "
        "--out {output:q} > {log:q} 2>&1"


rule report_outputs:
    input:
        report_targets_lib.report_targets(LAYOUT, PLAN),
        report_targets_lib.prediction_previews(LAYOUT, PREDICTIONS),
