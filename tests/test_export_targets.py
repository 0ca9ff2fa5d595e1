"""The parse-time checks of `exports:` (dacapo_flow.export.targets); the rule itself runs in
tests/test_workflow_export.py."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.export.targets import ExportEntry, check_exports
from helpers_tiny import run_config_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def plan(data):
    config = RunConfig.model_validate(
        run_config_dict(data, name="distance", select_criteria=["mito__dice", "mito__voi"])
    )
    assert config.validation_dataset_names() == ["validate_0"]
    return {"distance": SimpleNamespace(config=config)}


def test_check_exports_names_the_bad_entry_and_key(plan):
    check_exports([ExportEntry(run="distance", dataset="validate_0", criterion="mito__dice")], plan)
    bad = [
        ExportEntry(run="distance", dataset="validate_0", criterion="mito__dice"),
        ExportEntry(run="distance", dataset="nope", criterion="er__dice"),
        ExportEntry(run="other", dataset="validate_0", criterion="mito__dice"),
    ]
    with pytest.raises(ConfigError) as error:
        check_exports(bad, plan)
    message = str(error.value)
    assert "exports[1].dataset: 'nope'" in message
    assert "exports[1].criterion: 'er__dice'" in message
    assert "exports[2].run: unknown run 'other'" in message
