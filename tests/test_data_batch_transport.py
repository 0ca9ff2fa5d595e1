"""Batches cross from loader workers through shared memory (large) or the pipe (small)."""

import os
import pickle

import numpy as np
import pytest
import torch

from dacapo_flow.data import batch_transport
from dacapo_flow.data.batch_transport import discard, pack, unpack
from dacapo_flow.data.prefetch import Prefetcher

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm (Linux)")


def segments() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


def batch(seed=0, side=64):
    rng = np.random.default_rng(seed)
    return {
        "raw": rng.random((2, 1, side, side, side), dtype=np.float32),
        "target": rng.integers(0, 9, (2, 3, side // 2, side // 2, side // 2)).astype(np.uint8),
        "weight": np.ones((2, 3, 5, 5, 5), np.float64),
    }


class LargeBatches:
    """A sampler whose batches (4 MB) take the shared-memory path."""

    def sample(self, iteration):
        return batch(iteration)


def test_a_large_batch_crosses_as_a_named_segment_and_comes_back_equal_and_writable():
    before = segments()
    original = batch()
    packed = pack(original)
    assert packed[0] == "shared" and len(pickle.dumps(packed)) < 1000
    got = unpack(pickle.loads(pickle.dumps(packed)))
    assert not segments() - before  # the receiver removed the name at once
    for key, value in original.items():
        assert got[key].dtype == value.dtype and got[key].flags.writeable
        np.testing.assert_array_equal(got[key], value)
    got["raw"][0] = 0  # a view the receiver owns


def test_small_batches_and_a_full_dev_shm_take_the_pipe(monkeypatch):
    small = batch(side=8)
    assert pack(small)[0] == "pickled"
    monkeypatch.setattr(batch_transport, "_free_shared_bytes", lambda: 64 << 20)
    large = {"raw": np.zeros((40 << 20) // 4, np.float32)}  # 40 MB does not fit twice
    packed = pack(large)
    assert packed[0] == "pickled"
    np.testing.assert_array_equal(unpack(packed)["raw"], large["raw"])


def test_discarding_an_unread_batch_removes_its_segment():
    before = segments()
    packed = pack(batch())
    assert segments() - before == {packed[1]}
    discard(packed)
    discard(packed)  # twice is harmless
    assert not segments() - before  # none left behind (others may come and go meanwhile)


def test_prefetch_workers_deliver_large_batches_in_order_and_leave_no_segment():
    before = segments()
    with Prefetcher(LargeBatches(), 3, 9, num_workers=2, depth=3) as batches:
        for iteration, got in batches:
            for key, value in batch(iteration).items():
                np.testing.assert_array_equal(got[key], value)
            if iteration == 5:
                break  # closing with batches still in flight
    assert not segments() - before  # none left behind (others may come and go meanwhile)


def test_training_on_batches_from_shared_memory_equals_training_inline(data, tmp_path):
    """Batches of 32 crops (over 1 MB) cross through shared memory; the weights are the same."""
    from dacapo_flow.config.run_config import RunConfig
    from dacapo_flow.run import Run
    from dacapo_flow.training import build_sampler
    from helpers_tiny import assert_same_state, run_config_dict, torch_threads, train_to

    def config(fetchers):
        trainer = {
            "batch_size": 32,
            "num_data_fetchers": fetchers,
            "augments": [{"type": "mirror"}],
        }
        return RunConfig.model_validate(
            run_config_dict(data, num_iterations=2, validation_interval=2, trainer_config=trainer)
        )

    assert pack(build_sampler(Run(config(1))).sample(0))[0] == "shared"
    before = segments()
    with torch_threads(1):
        inline = train_to(config(0), tmp_path / "inline", 2)
        shared = train_to(config(1), tmp_path / "shared", 2)
    a, b = (torch.load(p, weights_only=True) for p in (inline, shared))
    for part in ("model", "optimizer"):
        assert_same_state(a[part], b[part], part)
    assert not segments() - before  # none left behind (others may come and go meanwhile)
