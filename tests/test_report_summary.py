"""The end-of-workflow summary: each run's selected checkpoints and scores, the report and
the predictions, from the best JSONs on disk (no torch)."""

import json
import subprocess
import sys
from types import SimpleNamespace

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.layout import Layout
from dacapo_flow.report.summary import summary
from helpers_tiny import run_config_dict, write_yaml


def test_the_summary_lists_selected_scores_and_output_paths(data, tmp_path):
    config = run_config_dict(data, name="up", select_criteria=["mito__dice", "nucleus__dice"])
    run = load_run_config(write_yaml(tmp_path / "up.yaml", config))
    plan = {"up": SimpleNamespace(name="up", config=run, repetition=0)}
    layout = Layout(tmp_path / "store")
    best = layout.best_record("up", "validate_0", "mito__dice")
    (tmp_path / "store/up/validate_0").mkdir(parents=True)
    record = {"iteration": 40, "score": 0.8125, "parameters": {"threshold": 0.5}}
    record |= {"dataset": "validate_0", "criterion": "mito__dice", "higher_is_better": True}
    (tmp_path / best).write_text(json.dumps(record))

    lines = summary(layout, plan, ["cremi_a"]).splitlines()
    header, row = (line.split() for line in lines[2:4])
    assert header == ["run", "dataset", "criterion", "iteration", "score", "parameters"]
    assert row == ["up", "validate_0", "mito__dice", "40", "0.8125", "threshold=0.5"]
    assert not any("nucleus__dice" in line for line in lines)  # not selected yet: left out
    assert lines[-2].startswith(f"report: {layout.report_dir()}/")
    assert lines[-1] == (
        f"prediction cremi_a: {layout.prediction('cremi_a').zarr} (dacapo-flow view cremi_a)"
    )


def test_the_summary_imports_no_torch():
    code = "import sys, dacapo_flow.report.summary; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
