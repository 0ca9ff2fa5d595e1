"""DistanceTask: signed-distance targets, balanced weights, loss, thresholds, scores."""

import math
import pickle

import numpy as np
import pytest
import torch

from dacapo_flow.nn.unet import CNNectomeUNet
from dacapo_flow.stats.validation_scores import parameter_label
from dacapo_flow.tasks.distance import DistanceTask
from helpers_tasks import fit_decreases_loss


def two_objects():
    gt = np.zeros((12, 12, 12), dtype=np.uint64)
    gt[1:6, 1:6, 1:6] = 3
    gt[7:11, 2:10, 2:10] = 7
    return gt


def test_target_is_tanh_of_signed_distance_over_scale_factor():
    gt = np.zeros((1, 8), dtype=np.int32)
    gt[0, 3:6] = 5
    task = DistanceTask(["obj"], {"obj": [5]}, scale_factor=4.0)
    target, weight = task.target(gt, None, (1, 4))
    assert target.shape == weight.shape == (1, 1, 8)
    assert target.dtype == weight.dtype == np.float32
    np.testing.assert_allclose(
        target[0, 0], np.tanh(np.array([-10, -6, -2, 2, 6, 2, -2, -6]) / 4), rtol=1e-6
    )


def test_region_without_boundary_is_plus_or_minus_one():
    gt = np.full((4, 4), 2)
    task = DistanceTask(["in", "out"], {"in": [2], "out": [9]})
    target, _ = task.target(gt, None, (1, 1))
    assert np.all(target[0] == 1.0) and np.all(target[1] == -1.0)


def test_channels_take_their_label_ids():
    gt = two_objects()
    task = DistanceTask(["small", "both"], {"small": [3], "both": [3, 7]})
    target, _ = task.target(gt, None, (4, 4, 4))
    assert np.array_equal(target[0] > 0, gt == 3)
    assert np.array_equal(target[1] > 0, gt > 0)


def test_weights_are_class_balanced():
    gt = np.zeros((10, 10), dtype=np.int32)
    gt[:2, :] = 1  # 20 % foreground
    _, weight = DistanceTask(["a"], {"a": [1]}).target(gt, None, (1, 1))
    assert np.allclose(weight[0][gt == 1], 0.5 / 0.2)
    assert np.allclose(weight[0][gt == 0], 0.5 / 0.8)


def test_weight_fractions_are_clipped():
    gt = np.zeros((10, 10), dtype=np.int32)
    gt[0, 0] = 1  # 1 % foreground -> clipped to 5 %, background 99 % -> 95 %
    _, weight = DistanceTask(["a"], {"a": [1]}).target(gt, None, (1, 1))
    assert weight[0, 0, 0] == pytest.approx(0.5 / 0.05)
    assert weight[0, 5, 5] == pytest.approx(0.5 / 0.95)


def test_weights_use_only_annotated_voxels_and_vanish_outside_the_mask():
    gt = np.zeros((10, 10), dtype=np.int32)
    gt[:2, :] = 1
    mask = np.zeros((10, 10), dtype=np.float32)
    mask[:4, :] = 1  # annotated: 20 foreground, 20 background
    _, weight = DistanceTask(["a"], {"a": [1]}).target(gt, mask, (1, 1))
    assert np.allclose(weight[0][:4], 1.0)
    assert np.all(weight[0][4:] == 0)


def test_loss_is_weighted_mse():
    task = DistanceTask(["a"], {"a": [1]})
    prediction = torch.tensor([[[0.0, 1.0, 0.5]]])
    target = torch.tensor([[[1.0, 1.0, 0.0]]])
    weight = torch.tensor([[[2.0, 5.0, 0.0]]])
    assert task.loss(prediction, target, weight).item() == pytest.approx(2.0 / 3)
    with pytest.raises(ValueError, match="equal shapes"):
        task.loss(prediction, target[..., :2], weight[..., :2])


def test_sgd_on_a_tiny_model_reduces_the_loss(one_thread):
    task = DistanceTask(["a", "b"], {"a": [3], "b": [7]}, scale_factor=8.0)
    first, last = fit_decreases_loss(task, two_objects(), lr=0.01)
    assert last < 0.8 * first


def test_model_head_has_one_channel_per_distance_and_no_eval_activation():
    task = DistanceTask(["a", "b"], {"a": [3], "b": [7]})
    torch.manual_seed(0)
    model = task.create_model(CNNectomeUNet((8, 8, 8), 1, 4, 4, 2, [(2, 2, 2)], padding="same"))
    assert model.num_out_channels == 2 and task.head_labels == ["a", "b"]
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), model.train()(x))


def test_thresholds_must_lie_in_prediction_space():
    with pytest.raises(ValueError, match=r"outside \(-1, 1\)"):
        DistanceTask(["a"], {"a": [1]}, thresholds=[127])
    default = DistanceTask(["a"], {"a": [1]})
    assert min(default.thresholds) < 0 < max(default.thresholds)


def test_parameters_and_their_names():
    task = DistanceTask(["a"], {"a": [1]})
    assert task.parameters == [{"threshold": -0.25}, {"threshold": 0.0}, {"threshold": 0.25}]
    names = [parameter_label(p) for p in task.parameters]
    assert names == ["threshold=-0.25", "threshold=0.0", "threshold=0.25"]


def test_post_process_thresholds_every_channel():
    task = DistanceTask(["a", "b"], {"a": [1], "b": [2]})
    prediction = np.array([[[-0.5, 0.1, 0.3]], [[0.9, -0.9, 0.26]]], dtype=np.float32)
    out = task.post_process(prediction, {"threshold": 0.25})
    assert out.dtype == np.uint8
    assert out.tolist() == [[[0, 0, 1]], [[1, 0, 1]]]


def test_perfect_prediction_scores_perfectly_and_constant_prediction_badly():
    gt = two_objects()
    task = DistanceTask(["a", "b"], {"a": [3], "b": [7]}, scale_factor=8.0)
    target, _ = task.target(gt, None, (4, 4, 4))
    scores = task.evaluate(task.post_process(target, {"threshold": 0.0}), gt, None, (4, 4, 4))
    assert set(scores) == set(task.criteria)
    for name, value in scores.items():
        metric = name.split("__")[1]
        assert value == (0.0 if metric in ("voi", "hausdorff") else 1.0), name
    constant = task.post_process(np.full_like(target, -0.9), {"threshold": 0.0})
    bad = task.evaluate(constant, gt, None, (4, 4, 4))
    assert bad["a__dice"] == 0.0 and bad["a__recall"] == 0.0 and bad["a__voi"] > 0
    assert math.isnan(bad["a__hausdorff"]) and math.isnan(bad["a__precision"])


def test_evaluate_counts_only_masked_voxels():
    gt = two_objects()
    task = DistanceTask(["a"], {"a": [3]})
    output = (gt == 3).astype(np.uint8)[None]
    output[0, 10, 10, 10] = 1  # a false positive ...
    mask = np.ones(gt.shape, dtype=np.float32)
    assert task.evaluate(output, gt, mask, (4, 4, 4))["a__dice"] < 1.0
    mask[10, 10, 10] = 0  # ... outside the annotated region does not count
    assert task.evaluate(output, gt, mask, (4, 4, 4))["a__dice"] == 1.0


def test_empty_truth_and_prediction_give_nan():
    task = DistanceTask(["a"], {"a": [3]})
    gt = np.zeros((6, 6, 6), dtype=np.int32)
    scores = task.evaluate(np.zeros((1, 6, 6, 6), np.uint8), gt, None, (1, 1, 1))
    assert math.isnan(scores["a__dice"]) and math.isnan(scores["a__hausdorff"])
    assert scores["a__voi"] == 0.0


def test_criteria_and_directions():
    task = DistanceTask(["mito", "er"], {"mito": [1], "er": [2]})
    assert task.main_criterion == "mito__dice"
    assert task.evaluation_scores is task
    assert "er__hausdorff" in task.criteria and "mito__f1_with_tolerance" in task.criteria
    for name in task.criteria:
        lower = name.endswith(("__voi", "__hausdorff"))
        assert task.higher_is_better(name) is (not lower)
    with pytest.raises(ValueError, match="unknown criterion"):
        task.higher_is_better("mito__frizz_level")


def test_configuration_errors_name_the_problem():
    with pytest.raises(ValueError, match="label 'b' has no entry"):
        DistanceTask(["a", "b"], {"a": [1]})
    with pytest.raises(ValueError, match="voxel size"):
        DistanceTask(["a"], {"a": [1]}).target(np.zeros((4, 4), int), None, (1, 1, 1))
    with pytest.raises(ValueError, match="output shape"):
        DistanceTask(["a"], {"a": [1]}).evaluate(
            np.zeros((2, 4, 4)), np.zeros((4, 4)), None, (1, 1)
        )


def test_task_pickles_and_computes_the_same_targets():
    task = DistanceTask(["a"], {"a": [3, 7]}, scale_factor=8.0)
    clone = pickle.loads(pickle.dumps(task))
    gt = two_objects()
    for a, b in zip(task.target(gt, None, (4, 4, 4)), clone.target(gt, None, (4, 4, 4))):
        assert np.array_equal(a, b)


def test_nonzero_label_ids_take_every_non_zero_id():
    gt = two_objects()
    task = DistanceTask(["fg"], {"fg": "nonzero"})
    assert np.array_equal(task.regions(gt)[0], gt != 0)
    assert pickle.loads(pickle.dumps(task)).label_ids == {"fg": "nonzero"}


def test_uint64_ids_near_the_top_are_told_apart():
    top = 2**64 - 1
    gt = np.array([[top, top - 1, 0, top]], dtype=np.uint64)
    task = DistanceTask(["a"], {"a": [top]})
    np.testing.assert_array_equal(task.regions(gt)[0], [[True, False, False, True]])
    target, _ = task.target(gt, None, (1, 1))
    assert (target[0, 0] > 0).tolist() == [True, False, False, True]


def test_a_float_gt_is_refused():
    with pytest.raises(ValueError, match="gt has dtype float32; label ids must be integers"):
        DistanceTask(["a"], {"a": [1]}).target(np.ones((4, 4), np.float32), None, (1, 1))


def test_from_config_and_keywords_build_the_same_task():
    from dacapo_flow.config.tasks import DistanceTaskConfig

    config = DistanceTaskConfig(channels=["a"], scale_factor=4.0)
    built = DistanceTask.from_config(config, {"a": [1]})
    assert built.config == DistanceTask(["a"], {"a": [1]}, scale_factor=4.0).config == config
    assert built.tol_distance == DistanceTaskConfig.model_fields["tol_distance"].default


def test_mask_distances_drops_voxels_whose_distance_is_unknown():
    """A 1D-like row: object at x 0..3, annotated x 0..7; x >= 8 unknown (voxels 8 nm)."""
    gt = np.zeros((1, 1, 12), np.uint8)
    gt[..., :4] = 1
    mask = np.zeros(gt.shape, np.float32)
    mask[..., :8] = 1
    plain = DistanceTask(["a"], {"a": [1]}, scale_factor=10.0)
    masked = DistanceTask(["a"], {"a": [1]}, scale_factor=10.0, mask_distances=True)
    _, weight = plain.target(gt, mask, (8, 8, 8))
    _, known = masked.target(gt, mask, (8, 8, 8))
    assert (weight[0, 0, 0, :8] > 0).all() and (weight[0, 0, 0, 8:] == 0).all()
    # x = 4, 5 are nearer the boundary (4, 12 nm) than the unknown voxel x = 8 (32, 24 nm);
    # x = 6, 7 are not (20, 28 nm vs 16, 8 nm); inside the object, x = 0..3 are 4..28 nm
    # from the boundary and 64..40 nm from unknown: known.
    np.testing.assert_array_equal(known[0, 0, 0] > 0, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_seeded_watershed_segments_touching_organelles_and_scores_them_as_instances():
    z, y, x = np.mgrid[:16, :16, :32]
    gt = np.zeros((16, 16, 32), np.uint64)
    gt[(z - 8) ** 2 + (y - 8) ** 2 + (x - 9) ** 2 <= 42] = 5
    gt[((z - 8) ** 2 + (y - 8) ** 2 + (x - 21) ** 2 <= 42) & (gt == 0)] = 6  # touches 5
    task = DistanceTask(
        ["mito"],
        {"mito": "nonzero"},
        scale_factor=5.0,
        post_processing={
            "threshold": {"thresholds": [0.0]},
            "seeded_watershed": {"thresholds": [0.0], "seed_distances": [4.0]},
            "min_sizes": [0, 10],
        },
    )
    assert len(task.parameters) == 4
    target, _ = task.target(gt, None, (1, 1, 1))
    threshold = task.post_process(target, {"threshold": 0.0, "min_size": 0})
    seeded = task.post_process(target, {"threshold": 0.0, "seed_distance": 4.0, "min_size": 10})
    assert threshold.dtype == np.uint8 and seeded.dtype == np.uint64
    assert np.array_equal(seeded > 0, threshold > 0)
    merged = task.evaluate(threshold, gt, None, (1, 1, 1))
    split = task.evaluate(seeded, gt, None, (1, 1, 1))
    assert merged["mito__dice"] == split["mito__dice"] == 1.0
    # Components merge the two organelles; the seeded watershed keeps them apart.
    assert merged["mito__adapted_rand_error"] > 0.3
    assert split["mito__adapted_rand_error"] < 0.05


def test_a_minimum_size_drops_small_components_of_a_thresholded_channel():
    task = DistanceTask(
        ["mito"],
        {"mito": [1]},
        post_processing={"threshold": {"thresholds": [0.0]}, "min_sizes": [0, 5]},
    )
    prediction = -np.ones((1, 4, 4, 8), np.float32)
    prediction[0, 1:3, 1:3, 1:3] = 0.5  # 8 voxels
    prediction[0, 1, 1, 6] = 0.5  # 1 voxel
    kept = task.post_process(prediction, {"threshold": 0.0, "min_size": 5})
    assert kept.sum() == 8 and kept[0, 1, 1, 6] == 0
    assert task.post_process(prediction, {"threshold": 0.0, "min_size": 0}).sum() == 9
