import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.augment import build_augment
from dacapo_flow.data.prefetch import Prefetcher, PrefetchWorkerError
from dacapo_flow.data.sampling import BatchSampler, SamplerDataset
from dacapo_flow.data.synthetic import write_synthetic_dataset


def foreground_target(gt, mask, voxel_size):
    """Module-level, so that spawned workers can unpickle it."""
    target = (gt > 0).astype(np.float32)[np.newaxis]
    weight = np.ones_like(target) if mask is None else mask[np.newaxis]
    return target, weight


class FailingSampler:
    """Cheap sampler that fails at one iteration (or dies there, to mimic a crash)."""

    def __init__(self, fail_at, die=False):
        self.fail_at, self.die = fail_at, die

    def sample(self, iteration):
        if iteration == self.fail_at:
            if self.die:
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError(f"broken crop at iteration {iteration}")
        return {"raw": np.full((1, 1, 2, 2, 2), iteration, np.float32)}


class BigSampler:
    """Batches larger than a pipe's buffer: a worker's last one can block its exit."""

    def sample(self, iteration):
        return {"raw": np.full((1, 1, 64, 64, 64), iteration, np.float32)}


def is_gone(pid):
    """True once the process has exited and been reaped: a zombie still has /proc/<pid>."""
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def sampler(tmp_path_factory):
    containers = write_synthetic_dataset(tmp_path_factory.mktemp("prefetch"), shape=(32, 32, 32))
    datasets = [
        SamplerDataset(*(open_array(containers[name], d) for d in ("raw", "labels", "mask")))
        for name in ("train_0", "train_1")
    ]
    augment = build_augment(
        [{"type": "mirror"}, {"type": "transpose"}, {"type": "noise"}, {"type": "elastic"}]
    )
    return BatchSampler(datasets, (20, 20, 20), (12, 12, 12), 2, 5, foreground_target, augment)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_prefetched_batches_equal_direct_sampling_in_order(sampler, num_workers):
    with Prefetcher(sampler, 3, 9, num_workers=num_workers, depth=3) as prefetcher:
        results = list(prefetcher)

    assert [i for i, _ in results] == list(range(3, 9))
    for iteration, batch in results:
        expected = sampler.sample(iteration)
        assert batch.keys() == expected.keys()
        for key in expected:
            np.testing.assert_array_equal(batch[key], expected[key])


def test_worker_exception_is_raised_with_its_traceback():
    prefetcher = Prefetcher(FailingSampler(fail_at=4), 2, 10, num_workers=2, depth=4)
    pids = prefetcher.worker_pids
    delivered = []
    with pytest.raises(PrefetchWorkerError) as raised:
        for iteration, batch in prefetcher:
            delivered.append(iteration)
            assert batch["raw"][0, 0, 0, 0, 0] == iteration

    assert delivered == [2, 3]  # everything before the failure still arrives, in order
    message = str(raised.value)
    assert "iteration 4" in message and "Traceback" in message
    assert "ValueError: broken crop at iteration 4" in message
    assert all(is_gone(pid) for pid in pids)  # the failure closed the workers


def test_a_crashed_worker_is_reported_not_waited_for():
    prefetcher = Prefetcher(FailingSampler(fail_at=1, die=True), 0, 4, num_workers=1, depth=2)
    with pytest.raises(PrefetchWorkerError, match="died unexpectedly"):
        list(prefetcher)


def test_close_stops_workers_promptly_without_zombies(sampler):
    prefetcher = Prefetcher(sampler, 0, 1000, num_workers=2, depth=4)
    next(prefetcher)
    pids = prefetcher.worker_pids

    started = time.monotonic()
    prefetcher.close()

    assert time.monotonic() - started < 10  # not 1000 iterations of work
    assert all(is_gone(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        next(prefetcher)


def test_garbage_collection_reaps_workers():
    prefetcher = Prefetcher(FailingSampler(fail_at=-1), 0, 100, num_workers=2, depth=2)
    next(prefetcher)
    pids = prefetcher.worker_pids

    del prefetcher
    gc.collect()

    assert all(is_gone(pid) for pid in pids)


def test_empty_range_and_bad_arguments():
    assert list(Prefetcher(FailingSampler(fail_at=-1), 5, 5, num_workers=2)) == []
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(FailingSampler(fail_at=-1), 0, 5, depth=0)


def test_workers_leave_stop_signals_to_the_parent():
    """A preemption's SIGTERM/SIGUSR1 reach the whole job step: workers ignore them, so the
    parent can finish its step and save its state while they keep serving batches."""
    prefetcher = Prefetcher(FailingSampler(fail_at=None), 0, 6, num_workers=1, depth=1)
    try:
        assert next(prefetcher)[0] == 0  # the worker is up and in its loop
        pid = prefetcher.worker_pids[0]
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            os.kill(pid, sig)
        time.sleep(0.3)
        assert [next(prefetcher)[0] for _ in range(5)] == [1, 2, 3, 4, 5]
    finally:
        prefetcher.close()
    assert is_gone(pid)


def test_workers_of_a_killed_parent_exit(tmp_path):
    """A parent killed outright (SIGKILL after the grace time) leaves no workers behind,
    even with batches nobody will read."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "sys.path[:0] = sys.argv[1:]\n"
        "from test_data_prefetch import BigSampler\n"
        "from dacapo_flow.data.prefetch import Prefetcher\n"
        "if __name__ == '__main__':\n"
        "    p = Prefetcher(BigSampler(), 0, 100, num_workers=2, depth=8)\n"
        "    next(p)\n"
        "    print(*p.worker_pids, flush=True)\n"
        "    time.sleep(60)\n"
    )
    tests_dir = str(Path(__file__).parent)
    workflow_dir = str(Path(__file__).parents[1] / "workflow")
    parent = subprocess.Popen(
        [sys.executable, str(script), tests_dir, workflow_dir], stdout=subprocess.PIPE, text=True
    )
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
    finally:
        parent.kill()
        parent.wait()
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(orphan_gone(pid) for pid in pids):
        time.sleep(0.1)
    assert all(orphan_gone(pid) for pid in pids)


def orphan_gone(pid):
    """Exited (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in state
