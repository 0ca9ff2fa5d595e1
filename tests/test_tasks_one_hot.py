"""OneHotTask: class mapping, cross-entropy loss, softmax/argmax, dice and jaccard scores."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dacapo_flow.nn.unet import CNNectomeUNet
from dacapo_flow.stats.validation_scores import parameter_label
from dacapo_flow.tasks.one_hot import OneHotTask
from helpers_tasks import fit_decreases_loss


def two_objects():
    gt = np.zeros((12, 12, 12), dtype=np.uint64)
    gt[1:6, 1:6, 1:6] = 3
    gt[7:11, 2:10, 2:10] = 7
    return gt


def task_with_background(**kwargs):
    return OneHotTask(["background", "mito", "er"], {"mito": [3], "er": [7, 8]}, **kwargs)


def test_classes_map_their_ids_and_background_takes_the_rest():
    gt = np.array([[0, 3, 7, 8, 9]])
    target, weight = task_with_background().target(gt, None, (1, 1))
    assert target.dtype == weight.dtype == np.float32
    assert target.tolist() == [[[0, 1, 2, 2, 0]]]
    assert weight.tolist() == [[[1, 1, 1, 1, 1]]]


def test_without_a_catch_all_class_unclaimed_ids_are_unannotated():
    task = OneHotTask(["mito", "er"], {"mito": [3], "er": [7]})
    gt = np.array([[3, 7, 0, 5]])
    target, weight = task.target(gt, None, (1, 1))
    assert weight.tolist() == [[[1, 1, 0, 0]]]
    assert target[0, 0, :2].tolist() == [0, 1]


def test_weight_follows_the_mask():
    gt = np.array([[0, 3, 7, 8]])
    mask = np.array([[1, 0, 1, 0]], dtype=np.float32)
    _, weight = task_with_background().target(gt, mask, (1, 1))
    assert weight.tolist() == [[[1, 0, 1, 0]]]


def test_optional_class_balancing():
    gt = np.zeros((1, 10), dtype=np.int32)
    gt[0, :2] = 3  # 20 % mito, 80 % background, 0 % er (clipped to 5 %)
    _, weight = task_with_background(balance_classes=True).target(gt, None, (1, 1))
    assert weight[0, 0, 0] == pytest.approx(1 / (3 * 0.2))
    assert weight[0, 0, 5] == pytest.approx(1 / (3 * 0.8))


def test_invalid_class_configurations_are_rejected():
    with pytest.raises(ValueError, match="only one"):
        OneHotTask(["a", "b", "c"], {"a": [1]})
    with pytest.raises(ValueError, match="claimed by both"):
        OneHotTask(["bg", "a", "b"], {"a": [1], "b": [1, 2]})
    with pytest.raises(ValueError, match="not one of the classes"):
        OneHotTask(["bg", "a"], {"a": [1], "nucleus": [2]})
    with pytest.raises(ValueError, match="at least 2 items"):
        OneHotTask(["a"], {"a": [1]})


def test_loss_is_weighted_cross_entropy():
    task = task_with_background()
    torch.manual_seed(0)
    prediction = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 1, 4, 4)).float()
    ones = torch.ones_like(target)
    expected = F.cross_entropy(prediction, target[:, 0].long())
    assert task.loss(prediction, target, ones).item() == pytest.approx(expected.item())
    half = ones.clone()
    half[0] = 0
    expected_half = F.cross_entropy(prediction[1:], target[1:, 0].long()) / 2
    assert task.loss(prediction, target, half).item() == pytest.approx(expected_half.item())
    # a perfect, confident prediction has (near) zero loss: no placeholder |pred - target|
    confident = 50 * F.one_hot(target[:, 0].long(), 3).permute(0, 3, 1, 2).float()
    assert task.loss(confident, target, ones).item() < 1e-6


def test_sgd_on_a_tiny_model_reduces_the_loss(one_thread):
    first, last = fit_decreases_loss(task_with_background(), two_objects(), lr=0.01)
    assert last < 0.8 * first


def test_softmax_in_eval_mode_only_and_head_kernel_size():
    task = task_with_background(kernel_size=3)
    torch.manual_seed(0)
    model = task.create_model(CNNectomeUNet((8, 8, 8), 1, 4, 4, 2, [(2, 2, 2)], padding="same"))
    assert model.prediction_head.kernel_size == (3, 3, 3)
    assert model.output_shape == (8, 8, 8)  # 'same' architecture keeps its shape with the head
    assert task.head_labels == ["background", "mito", "er"] and model.num_out_channels == 3
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        raw = model.train()(x)
        probabilities = model.eval()(x)
    assert torch.allclose(probabilities, torch.softmax(raw, dim=1))
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(1, 8, 8, 8))


def test_post_process_is_argmax_with_a_single_parameter_set():
    task = task_with_background()
    assert task.parameters == [{}]
    assert parameter_label(task.parameters[0]) == "argmax"
    prediction = np.array([[[0.1, 0.7]], [[0.8, 0.2]], [[0.1, 0.1]]], dtype=np.float32)
    out = task.post_process(prediction, {})
    assert out.dtype == np.uint8 and out.shape == (1, 1, 2)
    assert out.tolist() == [[[1, 0]]]


def test_perfect_prediction_scores_one_and_all_background_scores_zero():
    gt = two_objects()
    task = task_with_background()
    target, _ = task.target(gt, None, (4, 4, 4))
    probabilities = np.stack([target[0] == i for i in range(3)]).astype(np.float32)
    scores = task.evaluate(task.post_process(probabilities, {}), gt, None, (4, 4, 4))
    assert set(scores) == set(task.criteria)
    assert all(v == 1.0 for v in scores.values())

    background_only = np.zeros((1, *gt.shape), dtype=np.uint8)
    bad = task.evaluate(background_only, gt, None, (4, 4, 4))
    assert bad["mito__dice"] == bad["er__jaccard"] == 0.0
    assert bad["mean__dice"] == 0.0  # background's good score does not count
    assert 0 < bad["background__dice"] < 1


def test_mean_over_all_classes_without_background():
    task = OneHotTask(["mito", "er"], {"mito": [3], "er": [7]})
    gt = np.array([[3, 3, 7, 7]])
    output = np.array([[[0, 1, 1, 1]]], dtype=np.uint8)
    scores = task.evaluate(output, gt, None, (1, 1))
    assert scores["mito__dice"] == pytest.approx(2 / 3)
    assert scores["er__dice"] == pytest.approx(0.8)
    assert scores["mean__dice"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert scores["mito__jaccard"] == pytest.approx(0.5)


def test_evaluate_ignores_unmasked_voxels_and_absent_classes_are_nan():
    task = task_with_background()
    gt = np.array([[0, 3, 3, 0]])
    output = np.array([[[0, 1, 1, 1]]], dtype=np.uint8)
    mask = np.array([[1, 1, 1, 0]])
    scores = task.evaluate(output, gt, mask, (1, 1))
    assert scores["mito__dice"] == 1.0 and math.isnan(scores["er__dice"])
    assert scores["mean__dice"] == 1.0


def test_criteria_are_all_higher_is_better():
    task = task_with_background()
    assert task.main_criterion == "mean__dice"
    assert "background__dice" in task.criteria and "mean__jaccard" in task.criteria
    assert all(task.higher_is_better(c) for c in task.criteria)
    with pytest.raises(ValueError, match="unknown criterion"):
        task.higher_is_better("frizz_level")


def test_task_pickles():
    task = task_with_background(balance_classes=True)
    clone = pickle.loads(pickle.dumps(task))
    gt = two_objects()
    for a, b in zip(task.target(gt, None, (4, 4, 4)), clone.target(gt, None, (4, 4, 4))):
        assert np.array_equal(a, b)


def test_nonzero_class_takes_the_non_zero_ids_no_other_class_lists():
    task = OneHotTask(
        ["background", "object", "er"], {"background": [0], "object": "nonzero", "er": [7]}
    )
    target, weight = task.target(np.array([[0, 3, 7, 9]]), None, (1, 1))
    assert target.tolist() == [[[0, 1, 2, 1]]]
    assert weight.tolist() == [[[1, 1, 1, 1]]]
    with pytest.raises(ValueError, match="only one may be"):
        OneHotTask(["a", "b"], {"a": "nonzero", "b": "nonzero"})


def test_uint64_ids_near_the_top_are_told_apart():
    top = 2**64 - 1
    task = OneHotTask(["background", "a", "b"], {"a": [top], "b": [top - 1]})
    gt = np.array([[top, top - 1, 5]], dtype=np.uint64)
    target, _ = task.target(gt, None, (1, 1))
    assert target.tolist() == [[[1, 2, 0]]]


def test_balancing_and_its_clip_range_come_from_the_config():
    from dacapo_flow.config.tasks import OneHotTaskConfig

    config = OneHotTaskConfig(classes=["bg", "a"], balance_classes=True, clipmin=0.3)
    task = OneHotTask.from_config(config, {"a": [1]})
    assert task.balance_classes and task.clipmin == 0.3
    gt = np.zeros((1, 10), np.uint8)
    gt[0, 0] = 1  # 10 % a, clipped to 30 %
    _, weight = task.target(gt, None, (1, 1))
    assert weight[0, 0, 0] == pytest.approx(1 / (2 * 0.3))
