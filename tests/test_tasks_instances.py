"""Instance post-processing: mutex watershed (parity with DaCapo's WatershedPostProcessor),
seeded watershed of touching objects, minimum object size."""

import mwatershed as mws
import numpy as np
import pytest

from dacapo_flow.config.tasks import AffinitiesTaskConfig
from dacapo_flow.tasks.affinities import AffinitiesTask
from dacapo_flow.tasks.distance_transform import signed_distance_to_faces
from dacapo_flow.tasks.instances import (
    mutex_watershed,
    remove_small_components,
    remove_small_objects,
    seeded_watershed,
)

# Short-range and long-range (in-plane 3 and 9 voxels) offsets, as on CREMI.
NEIGHBORHOOD = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 3, 0], [0, 0, 3], [0, 9, 0], [0, 0, 9]]


def same_up_to_relabelling(a, b) -> bool:
    """A bijection maps the ids of `a` onto those of `b`."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size


def noisy_affinities(seed=0):
    """Affinities of a labelled volume (three touching boxes), with noise, in (0, 1)."""
    gt = np.zeros((6, 24, 24), np.uint64)
    gt[:, :12, :] = 1
    gt[:, 12:, :12] = 2
    gt[:, 12:, 12:] = 3
    task = AffinitiesTask(NEIGHBORHOOD)
    target, _ = task.target(gt, None, (1, 1, 1))
    noise = np.random.default_rng(seed).normal(0, 0.25, target.shape)
    return np.clip(target + noise, 0.01, 0.99).astype(np.float32), gt


def dacapo_watershed(affinities, offsets, bias):
    """DaCapo 0.3.5 WatershedPostProcessor.process on the whole ROI, with the deterministic
    strides (see /work/shared/reference/dacapo-0.3.5-behaviour.md §2.3)."""
    return mws.agglom(affinities.astype(np.float64) - bias, offsets, randomized_strides=False)


@pytest.mark.parametrize("bias", [0.1, 0.25, 0.5, 0.75, 0.9])
def test_mutex_watershed_equals_dacapos_algorithm_up_to_relabelling(bias):
    affinities, _ = noisy_affinities()
    task = AffinitiesTask(
        AffinitiesTaskConfig(neighborhood=NEIGHBORHOOD, post_processing={"mws": {}})
    )
    ours = task.post_process(affinities, {"bias": bias})
    assert ours.shape == (1, *affinities.shape[1:]) and ours.dtype == np.uint64
    assert same_up_to_relabelling(ours[0], dacapo_watershed(affinities, NEIGHBORHOOD, bias))


def test_mutex_watershed_recovers_the_objects_that_thresholds_merge():
    affinities, gt = noisy_affinities(seed=1)
    labels = mutex_watershed(affinities, NEIGHBORHOOD, 0.5)
    # Long-range repulsion keeps the three boxes apart.
    majority = [np.bincount(labels[gt == i].astype(np.int64)).argmax() for i in (1, 2, 3)]
    assert len(set(majority)) == 3


def touching_balls():
    z, y, x = np.mgrid[:20, :20, :40]
    a = (z - 10) ** 2 + (y - 10) ** 2 + (x - 12) ** 2 <= 64
    b = (z - 10) ** 2 + (y - 10) ** 2 + (x - 27) ** 2 <= 64
    speck = (z - 3) ** 2 + (y - 3) ** 2 + (x - 36) ** 2 <= 2
    return a, b, speck


def test_seeded_watershed_splits_touching_objects_within_the_foreground():
    a, b, speck = touching_balls()
    depth = signed_distance_to_faces(a | b | speck, (1, 1, 1))
    values = np.tanh(depth / 5)
    labels = seeded_watershed(values, 0.0, np.tanh(4.5 / 5))
    assert np.array_equal(labels > 0, values > 0)  # exactly the foreground
    core_a, core_b = labels[a & ~b], labels[b & ~a]
    major_a, major_b = np.bincount(core_a).argmax(), np.bincount(core_b).argmax()
    assert major_a != major_b
    assert (core_a == major_a).mean() > 0.97 and (core_b == major_b).mean() > 0.97
    assert np.unique(labels[speck]).size == 1  # no seed of its own: still one object
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    # Seeds too deep to exist: each foreground component is one object.
    assert np.unique(seeded_watershed(values, 0.0, 0.999)).size == 3
    assert not seeded_watershed(values, 0.99, 0.995).any()


def test_small_objects_and_components_are_removed():
    labels = np.array([[1, 1, 1, 0, 2, 3, 3]], np.uint64)
    assert remove_small_objects(labels, 2).tolist() == [[1, 1, 1, 0, 0, 3, 3]]
    assert remove_small_objects(labels, 0).tolist() == labels.tolist()
    mask = np.array([[1, 1, 0, 1, 0, 1, 1, 1]], np.uint8)
    assert remove_small_components(mask, 3).tolist() == [[0, 0, 0, 0, 0, 1, 1, 1]]
    assert remove_small_components(mask, 3).dtype == np.uint8
