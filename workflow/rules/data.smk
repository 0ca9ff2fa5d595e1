# The bundled synthetic example data (only when config names `synthetic_data`).
if SYNTHETIC:

    rule synthetic_data:
        output:
            f"{SYNTHETIC}/manifest.json",
        log:
            f"{SYNTHETIC}/synthetic_data.log",
        params:
            directory=SYNTHETIC,
        shell:
            "dacapo-flow synthetic-data --out {params.directory} > {log} 2>&1"
