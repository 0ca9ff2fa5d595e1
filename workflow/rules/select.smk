# Scores of every checkpoint -> one array per run, then one best JSON per
# (validation dataset, criterion), each with its criterion's own direction.


localrules:
    collect_scores,
    select_best,


rule collect_scores:
    input:
        scores=validation_score_files,
        stats=training_stats_files,
    output:
        scores=f"{STORE}/{{run}}/validation_scores.nc",
        stats=f"{STORE}/{{run}}/training_stats.nc",
    log:
        f"{STORE}/{{run}}/logs/collect_scores.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow collect-scores --scores {input.scores:q} --stats {input.stats:q} "
        "--scores-out {output.scores:q} --stats-out {output.stats:q} > {log} 2>&1"


rule select_best:
    input:
        f"{STORE}/{{run}}/validation_scores.nc",
    output:
        f"{STORE}/{{run}}/{{dataset}}/{{criterion}}.json",
    log:
        f"{STORE}/{{run}}/logs/select_best/{{dataset}}/{{criterion}}.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        store=store_of(2),
    shell:
        "dacapo-flow select-best --store {params.store} --run {wildcards.run} "
        "--dataset {wildcards.dataset} --criterion {wildcards.criterion} > {log} 2>&1"
