"""The parse-time checks of `exports:` (dacapo_flow.export.targets); the rule itself runs in
tests/test_workflow_export.py."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.export.targets import ExportEntry, check_exports

REPO = Path(__file__).resolve().parents[1]


def plan():
    config = SimpleNamespace(
        validation_dataset_names=lambda: ["validate_0"],
        selected_criteria=lambda: ["mito__dice", "mito__voi"],
    )
    return {"distance": SimpleNamespace(config=config)}


def test_check_exports_names_the_bad_entry_and_key():
    check_exports(
        [ExportEntry(run="distance", dataset="validate_0", criterion="mito__dice")], plan()
    )
    bad = [
        ExportEntry(run="distance", dataset="validate_0", criterion="mito__dice"),
        ExportEntry(run="distance", dataset="nope", criterion="er__dice"),
        ExportEntry(run="other", dataset="validate_0", criterion="mito__dice"),
    ]
    with pytest.raises(ConfigError) as error:
        check_exports(bad, plan())
    message = str(error.value)
    assert "exports[1].dataset: 'nope'" in message
    assert "exports[1].criterion: 'er__dice'" in message
    assert "exports[2].run: unknown run 'other'" in message
