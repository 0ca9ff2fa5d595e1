# One job per checkpoint: checkpoint k-V (or the start weights, or nothing) -> checkpoint k.
# The params carry a hash of the training-relevant config only (DESIGN §5).


rule train_chunk:
    input:
        unpack(train_chunk_inputs),
        normalisation=normalisation_files("train"),
    output:
        checkpoint=LAYOUT.checkpoint("{run}", "{iteration}"),
        stats=LAYOUT.chunk_stats("{run}", "{iteration}"),
    log:
        LAYOUT.log("{run}", "train_chunk", "{iteration}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    # The job's cores: torch's threads (--threads) and, by default (num_data_fetchers: auto),
    # threads - 1 processes preparing batches. Snakemake caps it at --cores; a profile's
    # set-threads overrides it (the SLURM profile gives 8, as many as cpus_per_task).
    threads: 2
    params:
        run_config=run_config_file,
        # ["--previous", FILE], ["--start", FILE] or []
        init=init_args,
        train_hash=stage_hash("train"),
        upstream_hash=upstream_hash,
    shell:
        "dacapo-flow train-chunk --run-config {params.run_config:q} "
        "--iteration {wildcards.iteration:q} {params.init:q} "
        "--out {output.checkpoint:q} --stats-out {output.stats:q} --threads {threads} --normalisation {input.normalisation:q} "
        "> {log:q} 2>&1"
