"""export.smk and its parse-time checks (dacapo_flow.export.targets), with a stub of what
common.smk provides (PLAN, LAYOUT, run_of): the rule is not included by the Snakefile yet."""

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.export.targets import ExportEntry, check_exports, export_paths

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


def test_export_rule_dry_run_wires_best_weights_and_record_to_the_exports(tmp_path):
    store = tmp_path / "my store"
    best = store / "distance" / "validate_0"
    best.mkdir(parents=True)
    (best / "mito__dice.pt").write_bytes(b"")
    (best / "mito__dice.json").write_text("{}")
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            from types import SimpleNamespace
            from snakemake.exceptions import WorkflowError
            from dacapo_flow.config.base import ConfigError
            from dacapo_flow.layout import Layout

            config["exports"] = [{{"run": "distance", "dataset": "validate_0", "criterion": "mito__dice"}}]
            LAYOUT = Layout({str(store)!r})
            _config = SimpleNamespace(
                validation_dataset_names=lambda: ["validate_0"],
                selected_criteria=lambda: ["mito__dice"],
            )
            PLAN = {{"distance": SimpleNamespace(
                config=_config, source="config/runs/distance.yaml", repetition=0, upstream=None
            )}}

            def run_of(wildcards):
                return PLAN[wildcards.run]

            include: {str(REPO / "workflow/rules/export.smk")!r}

            rule all:
                input: export_targets()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "-d", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    paths = export_paths(f"{store}/distance", "validate_0", "mito__dice")
    assert f"--bioimageio-zip '{paths['bioimageio']}'" in result.stdout
    assert f"--weights '{best / 'mito__dice.pt'}'" in result.stdout
    assert "--run-config config/runs/distance.yaml --run distance --repetition 0" in result.stdout
