# One job per checkpoint: checkpoint k-V (or the start weights, or nothing) -> checkpoint k.
# The params carry a hash of the training-relevant config only (DESIGN §5).


rule train_chunk:
    input:
        unpack(train_chunk_inputs),
    output:
        checkpoint=f"{STORE}/{{run}}/checkpoints/iterations/{{iteration}}",
        stats=f"{STORE}/{{run}}/training_stats/{{iteration}}.nc",
    log:
        f"{STORE}/{{run}}/logs/train_chunk/{{iteration}}.log",
    conda:
        "../../envs/dacapo-flow.yaml"
    threads: 1
    params:
        run=run_args,
        init=init_args,
        store=store_of(3),
        train_hash=stage_hash("train"),
    shell:
        "dacapo-flow train-chunk {params.run} {params.init} --store {params.store} "
        "--iteration {wildcards.iteration} --threads {threads} > {log} 2>&1"
