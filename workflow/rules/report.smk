# Paper outputs (DESIGN §9): leaderboards per (validation dataset, criterion), curves per run,
# the lineage of finetunes. Reads only stats, scores and best JSONs: nothing here trains or
# validates. Needs LAYOUT, PLAN and run_of from common.smk; input helpers in report_common.smk.


include: "report_common.smk"


localrules:
    sweep_metadata,
    leaderboard,
    curves,
    lineage,
    report_outputs,


rule sweep_metadata:
    output:
        f"{LAYOUT.store}/{{run}}/sweep.json",
    log:
        f"{LAYOUT.store}/{{run}}/logs/sweep_metadata.log",
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
        csv=report(
            f"{REPORT}/leaderboard/{{dataset}}/{{criterion}}.csv",
            caption="../report/leaderboard.rst",
            category="Leaderboards",
            subcategory="{dataset}",
            labels={"criterion": "{criterion}", "format": "CSV"},
        ),
        html=report(
            f"{REPORT}/leaderboard/{{dataset}}/{{criterion}}.html",
            caption="../report/leaderboard.rst",
            category="Leaderboards",
            subcategory="{dataset}",
            labels={"criterion": "{criterion}", "format": "table"},
        ),
        md=f"{REPORT}/leaderboard/{{dataset}}/{{criterion}}.md",
        tex=f"{REPORT}/leaderboard/{{dataset}}/{{criterion}}.tex",
    log:
        f"{REPORT}/logs/leaderboard/{{dataset}}/{{criterion}}.log",
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
        png=f"{REPORT}/curves/{{run}}.png",
        svg=report(
            f"{REPORT}/curves/{{run}}.svg",
            caption="../report/curves.rst",
            category="Curves",
            labels={"run": "{run}"},
        ),
    log:
        f"{REPORT}/logs/curves/{{run}}.log",
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
        json=f"{REPORT}/lineage.json",
        md=f"{REPORT}/lineage.md",
        png=f"{REPORT}/lineage.png",
        svg=report(
            f"{REPORT}/lineage.svg",
            caption="../report/lineage.rst",
            category="Lineage",
            labels={"figure": "lineage"},
        ),
    log:
        f"{REPORT}/logs/lineage.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        start_runs=lineage_start_runs,
    shell:
        "dacapo-flow report-lineage --sweep {input.sweep:q} "
        "--start-best {input.start_best:q} --start-run {params.start_runs:q} "
        "--json {output.json:q} --md {output.md:q} "
        "--out-png {output.png:q} --out-svg {output.svg:q} > {log:q} 2>&1"


rule report_outputs:
    input:
        report_targets_lib.report_targets(LAYOUT, PLAN),
