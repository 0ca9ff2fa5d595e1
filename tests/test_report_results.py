"""A run's results page: its selected checkpoint, parameters and score per (dataset,
criterion), under its grid point and repetition."""

import json

from browser import visible_text
from dacapo_flow.config.sweeps import sweep_metadata
from dacapo_flow.report.results import write_results
from dacapo_flow.store.atomic import atomic_write_json


def best(tmp_path, criterion, iteration, score, parameters):
    path = tmp_path / f"{criterion}.json"
    record = {
        "iteration": iteration,
        "parameters": parameters,
        "score": score,
        "higher_is_better": criterion.endswith("dice"),
        "dataset": "validate_0",
        "criterion": criterion,
    }
    path.write_text(json.dumps(record))
    return path


def test_the_results_page_lists_each_selected_pair(tmp_path):
    sweep = tmp_path / "sweep.json"
    grid = {"trainer_config.learning_rate": 0.001}
    atomic_write_json(sweep, sweep_metadata("r_rep1", "r", grid, 1, 2))
    records = [
        best(tmp_path, "mito__dice", 40, 0.81234, {"threshold": 0.5}),
        best(tmp_path, "mito__voi", None, None, None),
    ]
    out = write_results("r_rep1", sweep, records, tmp_path / "r.html")
    text = visible_text(out.read_text())
    assert "grid point: trainer_config.learning_rate=0.001; repetition 1" in text
    assert "validate_0 mito__dice higher 40 threshold=0.5 0.8123" in text
    assert "validate_0 mito__voi lower none (no valid score) - -" in text
