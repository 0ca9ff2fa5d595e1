# Validation of checkpoint k: its own job, so it runs beside the training of k+V.


rule validate:
    input:
        unpack(data_inputs),
        checkpoint=f"{STORE}/{{run}}/checkpoints/iterations/{{iteration}}",
    output:
        f"{STORE}/{{run}}/validation_scores/{{iteration}}.nc",
    log:
        f"{STORE}/{{run}}/logs/validate/{{iteration}}.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    threads: 1
    params:
        run=run_args,
        store=store_of(2),
        validate_hash=stage_hash("validate"),
    shell:
        "dacapo-flow validate {params.run} --store {params.store} "
        "--iteration {wildcards.iteration} --threads {threads} > {log} 2>&1"
