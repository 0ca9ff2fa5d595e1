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
