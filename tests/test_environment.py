"""The environment is pinned: envs/pip-lock.txt agrees with pyproject.toml's ranges, the conda
environment and the installer use it, and the suite runs on the locked versions."""

import importlib.util
import os

import pytest
import yaml
from packaging.requirements import Requirement

from workflow_support import REPO_ROOT

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", REPO_ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _lock_module()


def _project_requirements():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in lock.EXTRAS:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def test_every_extra_the_installer_asks_for_is_locked():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    install = (REPO_ROOT / "scripts" / "install.sh").read_text()
    assert f".[{','.join(lock.EXTRAS)}]" in install
    assert set(lock.EXTRAS) <= set(project["optional-dependencies"])


def test_the_lock_satisfies_every_range_of_pyproject():
    pins = lock.read_lock()
    problems = []
    for req in _project_requirements():
        if lock.canonical(req.name) == "torch":
            continue  # the installer's choice: CPU or CUDA build
        version = pins.get(lock.canonical(req.name))
        if version is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} is outside {req}")
    assert not problems, "; ".join(problems)


def test_the_lock_leaves_torch_to_the_installer():
    pins = lock.read_lock()
    assert "torch" not in pins and not any(name.startswith("nvidia-") for name in pins)
    assert "sympy" not in pins  # needed by torch alone


def test_the_conda_environment_installs_through_the_lock():
    env = yaml.safe_load((REPO_ROOT / "envs" / "dacapo-flow.yaml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # conda brings only the interpreter and torch; everything else is pinned by pip
    assert {d.split("=")[0].split(">")[0] for d in conda} == {"python", "pip", "pytorch"}
    assert "--constraint pip-lock.txt" in pip
    python = next(d for d in conda if d.startswith("python="))
    assert python.split("=")[1] in (REPO_ROOT / "envs" / "pip-lock.txt").read_text()


@pytest.mark.skipif(
    os.environ.get("DACAPO_FLOW_LOCK") == "none", reason="installed without the lock on purpose"
)
def test_this_environment_runs_the_locked_versions():
    assert lock.differences() == []


def test_lock_reads_names_and_versions_whatever_the_spelling(tmp_path):
    path = tmp_path / "lock.txt"
    path.write_text("# header\nPyYAML==6.0.2\nfunlib.geometry==0.3.0  # note\n\n")
    assert lock.read_lock(path) == {"pyyaml": "6.0.2", "funlib-geometry": "0.3.0"}
