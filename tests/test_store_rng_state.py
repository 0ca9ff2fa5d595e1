"""RNG states through a checkpoint: a resumed run draws what it would have drawn."""

import random

import numpy as np
import torch

from dacapo_flow.store.rng_state import capture_rng_states, restore_rng_states


def draw_all():
    return (
        [random.random() for _ in range(3)],
        np.random.rand(3).tolist(),
        np.random.randn(2).tolist(),
        torch.rand(3).tolist(),
    )


def test_rng_states_restore_every_generator(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leave numpy with a cached gaussian, which the state must carry
    states = capture_rng_states()
    expected = draw_all()
    draw_all()
    # Through a weights_only file, as a checkpoint stores them (numpy arrays would be refused).
    torch.save(states, tmp_path / "rng")
    restore_rng_states(torch.load(tmp_path / "rng", weights_only=True))
    assert draw_all() == expected


def test_rng_states_are_plain_containers_and_tensors():
    states = capture_rng_states()
    assert set(states) == {"python", "numpy", "torch", "cuda"}
    assert isinstance(states["numpy"]["keys"], torch.Tensor)
    assert isinstance(states["python"]["state"], torch.Tensor)
