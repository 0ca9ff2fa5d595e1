"""The parse-time checks of `exports:` (dacapo_flow.config.exports); the rule itself runs in
tests/test_workflow_export.py."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.exports import ExportEntry, check_exports
from dacapo_flow.config.run_config import RunConfig
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


def test_an_entry_takes_author_license_and_cite_as_the_export_command_does(plan):
    entry = ExportEntry.model_validate(
        {
            "run": "distance",
            "dataset": "validate_0",
            "criterion": "mito__dice",
            "author": "A. Person",
            "license": "MIT",
            "cite": [{"text": "A paper", "doi": "10.1000/xyz"}],
        }
    )
    check_exports([entry], plan)
    assert entry.authors == ["A. Person"]
    assert entry.cli_args() == [
        "--author", "A. Person", "--license", "MIT", "--cite", "A paper", "10.1000/xyz",
    ]  # fmt: skip
    plain = ExportEntry(run="distance", dataset="validate_0", criterion="mito__dice")
    assert plain.cli_args() == ["--license", "CC-BY-4.0"]


def test_a_citation_without_reference_and_a_repeated_entry_are_refused(plan):
    entry = {"run": "distance", "dataset": "validate_0", "criterion": "mito__dice"}
    bad = [
        ExportEntry.model_validate(
            {**entry, "criterion": "mito__voi", "cite": [{"text": "A paper"}]}
        ),
        ExportEntry.model_validate(entry),
        ExportEntry.model_validate(entry),
    ]
    with pytest.raises(ConfigError) as error:
        check_exports(bad, plan, "config/config.yaml")
    message = str(error.value)
    assert "config/config.yaml: exports[0].cite[0].doi: give exactly one of doi and url" in message
    assert "config/config.yaml: exports[2]: the same model as exports[1]" in message


def test_dacapo_flow_check_refuses_a_bad_entry_naming_file_and_key(data, tmp_path):
    from dacapo_flow.plan.runs import load_plan
    from helpers_tiny import write_yaml

    run = write_yaml(tmp_path / "distance.yaml", run_config_dict(data, name="distance"))
    config = {
        "runs": [{"config": str(run)}],
        "exports": [{"run": "distance", "dataset": "validate_9", "criterion": "mito__dice"}],
    }
    with pytest.raises(ConfigError, match=r"config/config.yaml: exports\[0\].dataset"):
        load_plan(config, "config/config.yaml", check_data=False)
