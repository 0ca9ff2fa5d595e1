"""A training chunk killed with SIGKILL mid-chunk: the rerun continues from the last
checkpoint, and the final checkpoint equals, tensor by tensor, that of an uninterrupted run."""

import signal

import pytest
import torch

from workflow_support import (
    STORE,
    BackgroundSnakemake,
    checkpoint_path,
    dry_run,
    install_workflow,
    run_snakemake,
    tail,
    tiny_run_config,
    wait_for,
)

pytestmark = pytest.mark.workflow

RUN = "resume"  # tests/data/tiny/runs/resume.yaml: checkpoints 5 and 10
FIRST, FINAL = 5, 10
TARGET = f"{STORE}/{RUN}/checkpoints/iterations/{FINAL}"
START_TIMEOUT_S = 600


def install_resume_workflow(workdir):
    return install_workflow(workdir, runs={RUN: tiny_run_config(RUN)})


class Uninterrupted:
    """The same config run without interruption, in the background beside the test."""

    def __init__(self, workdir):
        self.workdir = install_resume_workflow(workdir)
        self.snakemake = BackgroundSnakemake(self.workdir, TARGET)
        self._done = None

    def final_checkpoint(self) -> dict:
        if self._done is None:
            self._done = self.snakemake.wait().check()
        return torch.load(checkpoint_path(self.workdir, RUN, FINAL), weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    reference = Uninterrupted(tmp_path_factory.mktemp("uninterrupted"))
    yield reference
    reference.snakemake.kill_group()


def chunk_process(snakemake, iteration):
    """The `dacapo-flow train-chunk ... --iteration <iteration>` process, or None. Its argv
    has "train-chunk" as an item of its own, unlike the `bash -c "..."` wrapper around it."""

    def matches(argv):
        if "train-chunk" not in argv or "--iteration" not in argv[:-1]:
            return False
        return argv[argv.index("--iteration") + 1] == str(iteration)

    return snakemake.find_job_process(matches)


def assert_same_state(actual, expected, where="checkpoint"):
    """Equal nested containers; tensors equal element for element (torch.equal)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            assert_same_state(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, where


def kill_mid_chunk(workdir, how):
    """Run the workflow and SIGKILL it (`how`: the chunk process, or Snakemake with all its
    jobs) once chunk FIRST->FINAL is training."""
    snakemake = BackgroundSnakemake(workdir, TARGET)
    log = workdir / STORE / RUN / "logs" / "train_chunk" / f"{FINAL}.log"
    try:
        # The chunk writes nothing to its log before its progress bar, i.e. before training.
        wait_for(
            lambda: not snakemake.running() or (log.exists() and log.stat().st_size > 0),
            START_TIMEOUT_S,
            f"chunk {FIRST}->{FINAL} to start training",
        )
        assert snakemake.running(), tail(snakemake.output_so_far())
        assert not checkpoint_path(workdir, RUN, FINAL).exists(), "chunk ended before the kill"
        if how == "chunk":
            process = chunk_process(snakemake, FINAL)
            assert process is not None, "no train-chunk process found"
            process.send_signal(signal.SIGKILL)
            result = snakemake.wait()
            assert result.returncode != 0, tail(result.output)
        else:
            snakemake.kill_group()
            snakemake.wait()
    finally:
        snakemake.kill_group()


@pytest.mark.parametrize("how", ["chunk", "snakemake"])
def test_killed_chunk_resumes_from_the_last_checkpoint_bit_for_bit(tmp_path, uninterrupted, how):
    workdir = install_resume_workflow(tmp_path / "killed")
    kill_mid_chunk(workdir, how)
    first = checkpoint_path(workdir, RUN, FIRST)
    assert first.is_file()
    assert not checkpoint_path(workdir, RUN, FINAL).exists()
    first_written = first.stat().st_mtime_ns

    if how == "snakemake":
        # A killed Snakemake leaves its lock behind; a user removes it so.
        run_snakemake(workdir, "--unlock").check()
    plan = dry_run(workdir, TARGET).check()
    assert plan.counts() == {("train_chunk", RUN): 1}, plan.describe()
    (chunk,) = plan.jobs
    assert chunk.iteration == FINAL
    assert f"--previous {STORE}/{RUN}/checkpoints/iterations/{FIRST}" in chunk.shell

    run_snakemake(workdir, TARGET).check()
    assert first.stat().st_mtime_ns == first_written, "the finished chunk was trained again"
    resumed = torch.load(checkpoint_path(workdir, RUN, FINAL), weights_only=True)
    reference = uninterrupted.final_checkpoint()
    assert resumed["iteration"] == FINAL
    for key in ("model", "optimizer"):
        assert_same_state(resumed[key], reference[key], key)
    # Everything else too: scheduler, sampler, hash, labels, and the global RNG states (a
    # run's first chunk seeds them from the run's seed, the resumed chunk restores them).
    assert set(resumed) == set(reference)
    assert_same_state(resumed, reference)
