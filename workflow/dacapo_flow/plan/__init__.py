"""The workflow plan: config/config.yaml expanded into checked runs (`runs.load_plan`), where
each run starts from (`starts`), and the checks that read the data (`data_checks`).

The Snakefile loads the plan at parse time, so every bad config is reported (file and key)
before any job starts; no torch is imported here.
"""
