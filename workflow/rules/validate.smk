# Validation of checkpoint k: its own job, so it runs beside the training of k+V.


rule validate:
    input:
        unpack(data_inputs),
        checkpoint=LAYOUT.checkpoint("{run}", "{iteration}"),
        normalisation=normalisation_files("validate"),
    output:
        LAYOUT.checkpoint_scores("{run}", "{iteration}"),
    log:
        LAYOUT.log("{run}", "validate", "{iteration}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    # As many as a chunk's: beside it where the cores allow (--cores 4: both run), alone at
    # full speed where they do not (--cores 2: Snakemake runs them one after the other).
    threads: 2
    params:
        run_config=run_config_file,
        scratch=lambda wildcards: LAYOUT.scratch(wildcards.run),
        validate_hash=stage_hash("validate"),
    shell:
        "dacapo-flow validate --run-config {params.run_config:q} "
        "--checkpoint {input.checkpoint:q} --out {output:q} "
        "--scratch {params.scratch:q} --threads {threads} --normalisation {input.normalisation:q} > {log:q} 2>&1"
