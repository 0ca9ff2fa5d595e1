"""The code stays formatted and lint-clean (ruff), as the project's standards require."""

import shutil
import subprocess

import pytest

from workflow_support import REPO_ROOT

PATHS = ["workflow", "tests", "bench", "scripts"]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_is_clean(command):
    result = subprocess.run(
        ["ruff", *command, *PATHS], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
