"""config/README.md is generated from the config models and stays in sync with them."""

import importlib.util
from pathlib import Path

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
