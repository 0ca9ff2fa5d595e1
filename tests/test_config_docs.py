"""config/README.md is generated from the config models and stays in sync with them."""

import importlib.util
from pathlib import Path

from dacapo_flow.config.run_config import RunConfig

REPO = Path(__file__).resolve().parents[1]


def load_script():
    path = REPO / "scripts" / "write_config_docs.py"
    spec = importlib.util.spec_from_file_location("write_config_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_config_docs_equal_the_generated_ones():
    script = load_script()
    committed = (REPO / "config" / "README.md").read_text()
    assert committed == script.render(), "run scripts/write_config_docs.py to regenerate"


def test_every_config_key_is_documented_with_readable_types():
    text = load_script().render()
    for key in ("balance_classes", "clip", "upsample_factors", "label_ids", "augments"):
        assert f"| `{key}` |" in text
    assert "FieldInfo" not in text and "Annotated" not in text


def test_keys_that_move_store_files_do_not_claim_to_rerun_nothing():
    # A new name is a new run directory; a new validation_interval moves every checkpoint.
    rows = {
        line.split("|")[1].strip(): line.split("|")[4].strip()
        for line in load_script().section("run", RunConfig).splitlines()
        if line.startswith("| `")
    }
    assert rows["`name`"].startswith("all")
    assert rows["`validation_interval`"].startswith("train")
    assert rows["`num_iterations`"] != "none"
    assert rows["`description`"] == "none"
