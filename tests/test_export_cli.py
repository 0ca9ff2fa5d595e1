"""`dacapo-flow export` (export/cli.py): the dispatcher over the writers, and no import circle
in export/ (every module imports on its own, in a fresh process)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import dacapo_flow.export
from dacapo_flow.cli import main

EXPORT = Path(dacapo_flow.export.__file__).parent


@pytest.mark.parametrize("module", sorted(p.stem for p in EXPORT.glob("*.py")))
def test_every_export_module_imports_first_in_a_fresh_process(module):
    code = f"import dacapo_flow.export.{module}"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def export_imports(module: str) -> set[str]:
    """The export/ modules `module` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse((EXPORT / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 1:
                found.add(name.split(".")[0])
            elif name.startswith("dacapo_flow.export."):
                found.add(name.split(".")[2])
    return found


def test_the_imports_between_export_modules_form_no_circle():
    graph = {p.stem: export_imports(p.stem) for p in EXPORT.glob("*.py")}

    def reaches(start, node, seen):
        for child in graph.get(node, ()):
            if child == start or (child not in seen and reaches(start, child, seen | {child})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []
    assert "selected" in graph["bioimageio"] and "bioimageio" in graph["cli"]


def test_export_without_an_output_is_refused(tmp_path):
    args = ["--run-config", "r.yaml", "--weights", "w.pt", "--best", "b.json"]
    with pytest.raises(SystemExit, match="give --out-dir, --bioimageio-zip and/or"):
        main(["export", *args])
