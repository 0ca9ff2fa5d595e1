"""AffinitiesTask: affinity targets, balanced BCE, connected-component segmentation, VOI / ARE."""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dacapo_flow.nn.unet import CNNectomeUNet
from dacapo_flow.stats.validation_scores import parameter_label
from dacapo_flow.tasks.affinities import AffinitiesTask, segment_affinities
from helpers_tasks import fit_decreases_loss

NEAREST = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


def two_touching_objects():
    gt = np.zeros((12, 12, 12), dtype=np.uint64)
    gt[1:6, 1:6, 1:6] = 3
    gt[6:11, 1:10, 2:10] = 7  # touches object 3 along z: only the ids separate them
    return gt


def test_target_on_a_row():
    gt = np.array([[1, 1, 2, 2, 0, 0, 3]])
    task = AffinitiesTask([(0, 1), (0, -1)])
    target, weight = task.target(gt, None, (1, 1))
    assert target.dtype == weight.dtype == np.float32 and target.shape == (2, 1, 7)
    # x and x+1 share a non-zero id; background pairs are not affine
    assert target[0, 0].tolist() == [1, 0, 1, 0, 0, 0, 0]
    assert target[1, 0].tolist() == [0, 1, 0, 1, 0, 0, 0]
    # the neighbour outside the window gets no weight
    assert weight[0, 0, 6] == 0 and weight[1, 0, 0] == 0
    # balanced over the 6 valid edges: 2 affine (1/3), 4 not (2/3)
    assert np.allclose(weight[0, 0, [0, 2]], 0.5 / (1 / 3))
    assert np.allclose(weight[0, 0, [1, 3, 4, 5]], 0.5 / (2 / 3))


def test_edges_touching_unannotated_voxels_have_no_weight():
    gt = np.array([[1, 1, 1, 1, 2, 2]])
    mask = np.array([[1, 1, 0, 1, 1, 1]], dtype=np.float32)
    _, weight = AffinitiesTask([(0, 1)]).target(gt, mask, (1, 1))
    assert (weight[0, 0] == 0).tolist() == [False, True, True, False, False, True]


def test_long_range_offsets():
    gt = np.array([[5, 5, 5, 6, 6, 6]])
    target, _ = AffinitiesTask([(0, 3)]).target(gt, None, (1, 1))
    assert target[0, 0].tolist() == [0, 0, 0, 0, 0, 0]
    target, _ = AffinitiesTask([(0, 2)]).target(gt, None, (1, 1))
    assert target[0, 0].tolist() == [1, 0, 0, 1, 0, 0]


def test_head_labels_name_the_offsets():
    task = AffinitiesTask([(1, 0, 0), (0, -3, 0)])
    assert task.head_labels == ["aff_1_0_0", "aff_0_-3_0"]
    assert task.num_out_channels == 2


def test_loss_is_weighted_bce_with_logits():
    task = AffinitiesTask(NEAREST)
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, 4)
    target = torch.randint(0, 2, (1, 3, 4, 4, 4)).float()
    weight = torch.rand(1, 3, 4, 4, 4) * 3
    manual = (weight * F.binary_cross_entropy_with_logits(logits, target, reduction="none")).mean()
    assert task.loss(logits, target, weight).item() == pytest.approx(manual.item(), rel=1e-6)
    assert task.loss(logits, target, torch.zeros_like(weight)).item() == 0.0


def test_sgd_on_a_tiny_model_reduces_the_loss(one_thread):
    first, last = fit_decreases_loss(AffinitiesTask(NEAREST), two_touching_objects(), lr=0.05)
    assert last < 0.8 * first


def test_sigmoid_in_eval_mode_only():
    task = AffinitiesTask(NEAREST)
    torch.manual_seed(0)
    model = task.create_model(CNNectomeUNet((8, 8, 8), 1, 4, 4, 2, [(2, 2, 2)], padding="same"))
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        raw = model.train()(x)
        assert torch.allclose(model.eval()(x), torch.sigmoid(raw))


def test_segmentation_joins_voxels_across_edges_above_the_threshold():
    affinities = np.zeros((1, 1, 6), dtype=np.float32)  # offset (0, 1): x <-> x+1
    affinities[0, 0] = [0.9, 0.6, 0.1, 0.8, 0.0, 0.0]
    low = segment_affinities(affinities, [(0, 1)], 0.5)[0]
    high = segment_affinities(affinities, [(0, 1)], 0.7)[0]
    assert low.dtype == np.uint64
    assert low.tolist() == [1, 1, 1, 2, 2, 0]  # voxel 5 has no edge above 0.5: background
    assert high.tolist() == [1, 1, 0, 2, 2, 0]


def test_post_process_output_and_parameters():
    task = AffinitiesTask(NEAREST)
    assert task.parameters == [{"threshold": 0.5}, {"threshold": 0.7}, {"threshold": 0.9}]
    assert parameter_label(task.parameters[1]) == "threshold=0.7"
    out = task.post_process(np.zeros((3, 4, 4, 4), np.float32), {"threshold": 0.5})
    assert out.shape == (1, 4, 4, 4) and out.dtype == np.uint64 and not out.any()
    with pytest.raises(ValueError, match="prediction shape"):
        task.post_process(np.zeros((2, 4, 4, 4), np.float32), {"threshold": 0.5})


def test_perfect_affinities_recover_the_objects_and_constant_ones_do_not():
    gt = two_touching_objects()
    task = AffinitiesTask(NEAREST)
    target, _ = task.target(gt, None, (4, 4, 4))
    segmentation = task.post_process(target, {"threshold": 0.5})
    scores = task.evaluate(segmentation, gt, None, (4, 4, 4))
    assert set(scores) == set(task.criteria)
    assert all(v == 0.0 for v in scores.values())
    # the same gt with other ids is still perfect: scores compare partitions
    assert task.evaluate(segmentation * 10 + 1, gt, None, (4, 4, 4))["voi"] == pytest.approx(0.0)

    for constant in (0.0, 1.0):
        flat = task.post_process(np.full_like(target, constant), {"threshold": 0.5})
        bad = task.evaluate(flat, gt, None, (4, 4, 4))
        assert bad["voi_merge"] > 0.5 and bad["adapted_rand_error"] > 0.1
        assert bad["voi"] == pytest.approx(bad["voi_split"] + bad["voi_merge"])


def test_evaluate_counts_only_masked_voxels():
    gt = two_touching_objects()
    task = AffinitiesTask(NEAREST)
    segmentation = (gt.astype(np.uint64))[None].copy()
    segmentation[0, 1:3, 1:6, 1:6] = 99  # split object 3 ...
    assert task.evaluate(segmentation, gt, None, (4, 4, 4))["voi_split"] > 0
    mask = np.ones(gt.shape)
    mask[1:3] = 0  # ... where nobody annotated
    assert task.evaluate(segmentation, gt, mask, (4, 4, 4))["voi"] == 0.0


def test_criteria_are_all_lower_is_better():
    task = AffinitiesTask(NEAREST)
    assert task.main_criterion == "voi"
    assert task.criteria == ["voi_split", "voi_merge", "voi", "adapted_rand_error"]
    assert not any(task.higher_is_better(c) for c in task.criteria)
    with pytest.raises(ValueError, match="unknown criterion"):
        task.higher_is_better("dice")


def test_configuration_errors():
    with pytest.raises(ValueError, match=r"outside \(0, 1\)"):
        AffinitiesTask(NEAREST, thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="zero offset"):
        AffinitiesTask([(0, 0, 0)])
    with pytest.raises(ValueError, match="all be 2D or all 3D"):
        AffinitiesTask([(1, 0), (0, 0, 1)])
    with pytest.raises(ValueError, match="offsets are 3D"):
        AffinitiesTask(NEAREST).target(np.zeros((4, 4), int), None, (1, 1))


def test_task_pickles():
    task = AffinitiesTask(NEAREST, thresholds=(0.3,))
    clone = pickle.loads(pickle.dumps(task))
    gt = two_touching_objects()
    for a, b in zip(task.target(gt, None, (4, 4, 4)), clone.target(gt, None, (4, 4, 4))):
        assert np.array_equal(a, b)
    assert clone.thresholds == (0.3,)


def test_uint64_instances_near_the_top_are_told_apart():
    top = 2**64 - 1
    gt = np.array([[top, top, top - 1]], dtype=np.uint64)
    target, _ = AffinitiesTask([(0, 1)]).target(gt, None, (1, 1))
    assert target[0, 0].tolist() == [1, 0, 0]


def test_lsds_add_ten_descriptor_channels_after_the_affinities():
    from dacapo_flow.tasks.lsds import local_shape_descriptors

    task = AffinitiesTask(NEAREST, lsds=True, num_lsd_voxels=2)
    assert task.num_out_channels == 3 + 10
    assert task.head_labels[:4] == ["aff_1_0_0", "aff_0_1_0", "aff_0_0_1", "lsd_mean_z"]
    assert task.head_labels[-1] == "lsd_size"
    gt = two_touching_objects()
    target, weight = task.target(gt, None, (4, 4, 4))
    assert target.shape == weight.shape == (13, *gt.shape)
    plain_target, plain_weight = AffinitiesTask(NEAREST).target(gt, None, (4, 4, 4))
    assert np.array_equal(target[:3], plain_target) and np.array_equal(weight[:3], plain_weight)
    # sigma = 2 voxels of the coarsest size, as DaCapo computes it
    assert np.array_equal(target[3:], local_shape_descriptors(gt, (8.0,) * 3, (4, 4, 4)))
    # descriptor weights balance object against background voxels, in every channel alike
    assert np.all(weight[3:] == weight[3]) and weight[3][gt > 0].sum() == pytest.approx(
        weight[3][gt == 0].sum()
    )
    assert task.target_context((40, 4, 4)) == (6, 60, 60)  # 3 sigma of 80 nm
    assert AffinitiesTask(NEAREST).target_context((4, 4, 4)) == (0, 0, 0)


def test_lsd_loss_adds_the_weighted_descriptor_error_times_the_ratio():
    torch.manual_seed(0)
    task = AffinitiesTask(NEAREST, lsds=True, num_lsd_voxels=2, lsds_to_affs_weight_ratio=3.0)
    target, weight = (
        torch.from_numpy(a)[None] for a in task.target(two_touching_objects(), None, (4,) * 3)
    )
    prediction = torch.randn(target.shape)
    affinities = F.binary_cross_entropy_with_logits(
        prediction[:, :3], target[:, :3], weight=weight[:, :3]
    )
    descriptors = ((torch.sigmoid(prediction[:, 3:]) - target[:, 3:]) ** 2 * weight[:, 3:]).mean()
    assert task.loss(prediction, target, weight) == pytest.approx(
        float(affinities + 3.0 * descriptors)
    )


def test_lsds_train_and_post_processing_reads_the_affinities_only(one_thread):
    task = AffinitiesTask(NEAREST, lsds=True, num_lsd_voxels=1)
    first, last = fit_decreases_loss(task, two_touching_objects(), lr=0.05, steps=40)
    assert last < 0.8 * first
    prediction = np.zeros((13, 12, 12, 12), np.float32)
    prediction[:3] = AffinitiesTask(NEAREST).target(two_touching_objects(), None, (1, 1, 1))[0]
    prediction[3:] = 0.9  # whatever the descriptors say
    segmentation = task.post_process(prediction, {"threshold": 0.5})
    assert len(np.unique(segmentation)) == 3  # two objects and background


def test_lsds_per_section_for_labels_painted_section_by_section():
    from dacapo_flow.tasks.lsds import local_shape_descriptors

    task = AffinitiesTask([(0, 1, 0), (0, 0, 1)], lsds=True, num_lsd_voxels=2, lsd_section_axis=0)
    assert task.num_out_channels == 2 + 6 and task.head_labels[2] == "lsd_mean_y"
    gt = two_touching_objects()
    target, _ = task.target(gt, None, (40, 8, 8))
    # sigma from the in-plane voxel size (2 x 8 nm), no context across sections
    for z in (3, 8):
        assert np.array_equal(target[2:, z], local_shape_descriptors(gt[z], (16.0, 16.0), (8, 8)))
    assert task.target_context((40, 8, 8)) == (0, 6, 6)


def test_mws_and_min_size_come_from_the_config_grid():
    task = AffinitiesTask(
        NEAREST, post_processing={"mws": {"biases": [0.5]}, "min_sizes": [0, 100]}
    )
    assert task.parameters == [{"bias": 0.5, "min_size": 0}, {"bias": 0.5, "min_size": 100}]
    gt = two_touching_objects()
    target, _ = task.target(gt, None, (4, 4, 4))
    affinities = np.where(target > 0, 0.9, 0.1).astype(np.float32)
    every = task.post_process(affinities, {"bias": 0.5, "min_size": 0})[0]
    large = task.post_process(affinities, {"bias": 0.5, "min_size": 100})[0]
    assert every[gt > 0].min() >= 1  # a voxel joined to none (background here) stays 0
    # Only the two objects (125 and 360 voxels) are large enough; background voxels are not.
    assert set(np.unique(large)) - {0} == {every[2, 2, 2], every[8, 5, 5]}
    assert task.evaluate(large[None], gt, None, (4, 4, 4))["adapted_rand_error"] == 0.0
