# The bundled synthetic example data (only when config names `synthetic_data`).
if SYNTHETIC:

    rule synthetic_data:
        output:
            f"{SYNTHETIC}/manifest.json",
        log:
            f"{SYNTHETIC}/synthetic_data.log",
        conda:
            "../../envs/dacapo-flow.yaml"
        params:
            directory=lambda wildcards, output: os.path.dirname(output[0]),
        shell:
            "dacapo-flow synthetic-data --out {params.directory:q} > {log:q} 2>&1"


# A dataset normalised by percentiles: its range, computed once per run and recorded.
rule normalisation:
    input:
        unpack(data_inputs),
    output:
        LAYOUT.normalisation("{run}", "{dataset}"),
    log:
        LAYOUT.log("{run}", "normalisation", "{dataset}"),
    conda:
        "../../envs/dacapo-flow.yaml"
    params:
        run_config=run_config_file,
    shell:
        "dacapo-flow normalisation --run-config {params.run_config:q} "
        ""
        "--dataset {wildcards.dataset:q} --out {output:q} > {log:q} 2>&1"
