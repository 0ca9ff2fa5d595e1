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
            directory=lambda wildcards, output: str(Path(output[0]).parent),
        shell:
            "dacapo-flow synthetic-data --out {params.directory} > {log} 2>&1"
