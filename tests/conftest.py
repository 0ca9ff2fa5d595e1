"""Shared fixtures. The workflow tests share one completed run of the tiny workflow (synthetic
data; distance, affinities and a finetune of distance) per test session: tests that change
things work on copies of it."""

import numpy as np
import pytest

from helpers_tiny import synthetic_data_dir, torch_threads
from workflow_support import copy_workflow, install_workflow, run_snakemake

NOT_QUICK = ("workflow", "slurm", "slow")


def pytest_collection_modifyitems(config, items):
    """The quick tier (`pytest -m quick`): the library without Snakemake runs, SLURM or the
    few long library tests, for a check in minutes while editing."""
    for item in items:
        if not any(item.get_closest_marker(name) for name in NOT_QUICK):
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="session")
def completed_workflow(tmp_path_factory):
    """The tiny workflow after a complete real run (read-only for tests: copy to change)."""
    workdir = install_workflow(tmp_path_factory.mktemp("tiny_workflow"))
    run_snakemake(workdir).check()
    return workdir


@pytest.fixture
def completed_copy(completed_workflow, tmp_path):
    """A private copy of the completed tiny workflow, metadata and mtimes included."""
    return copy_workflow(completed_workflow, tmp_path / "workflow_copy")


@pytest.fixture
def fresh_workflow(tmp_path):
    """The tiny workflow installed in an empty directory: nothing run yet."""
    return install_workflow(tmp_path / "fresh_workflow")


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """The small synthetic dataset of the library tests, written once per session."""
    return synthetic_data_dir(tmp_path_factory)


@pytest.fixture
def volume():
    """A small uint16 volume with distinct values (array read/write tests)."""
    return np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)


@pytest.fixture
def one_thread():
    """Tiny tensors: thread hand-offs cost more than they save on a busy CPU."""
    with torch_threads(1):
        yield
