"""The schema of config/config.yaml: generated from the models that parse it."""

import importlib.util
from pathlib import Path

import yaml

from dacapo_flow.config.workflow_config import workflow_schema

REPO = Path(__file__).resolve().parents[1]


def load_write_schema_script():
    spec = importlib.util.spec_from_file_location("write_schema", REPO / "scripts/write_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_json_schema_is_the_generated_one():
    committed = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    script = load_write_schema_script()
    assert script.TARGET == REPO / "workflow/schemas/config.schema.yaml"
    assert committed == script.render(), "run scripts/write_schema.py to regenerate the schema"


def test_the_schema_describes_the_parsed_keys():
    schema = workflow_schema()
    assert set(schema["properties"]) == {
        "store",
        "runs",
        "synthetic_data",
        "exports",
        "predictions",
    }
    assert schema["required"] == ["runs"]
    assert schema["additionalProperties"] is False
    committed = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert committed == schema
