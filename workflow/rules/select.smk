# Scores of every checkpoint -> one array per run, then per (validation dataset, criterion)
# the best record and a copy of the winning weights, each with its criterion's direction.


localrules:
    collect_scores,
    select_best,


rule collect_scores:
    input:
        scores=validation_score_files,
        stats=training_stats_files,
    output:
        scores=LAYOUT.validation_scores("{run}"),
        stats=LAYOUT.training_stats("{run}"),
    log:
        LAYOUT.log("{run}", "collect_scores"),
    conda:
        "../../envs/dacapo-flow.yaml"
    shell:
        "dacapo-flow collect-scores --scores {input.scores:q} --stats {input.stats:q} "
        "--scores-out {output.scores:q} --stats-out {output.stats:q} > {log:q} 2>&1"


rule select_best:
    input:
        LAYOUT.validation_scores("{run}"),
    output:
        record=LAYOUT.best_record("{run}", "{dataset}", "{criterion}"),
        weights=LAYOUT.best_weights("{run}", "{dataset}", "{criterion}"),
    log:
        LAYOUT.log("{run}", "select_best", "{dataset}", "{criterion}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        checkpoints=checkpoint_files,
    shell:
        "dacapo-flow select-best --scores {input:q} --dataset {wildcards.dataset:q} "
        "--criterion {wildcards.criterion:q} --checkpoints {params.checkpoints:q} "
        "--out {output.record:q} --weights-out {output.weights:q} > {log:q} 2>&1"
