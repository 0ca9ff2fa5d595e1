import pytest
import torch
from funlib.geometry import Coordinate

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.config.tasks import AffinitiesTaskConfig, DistanceTaskConfig, OneHotTaskConfig
from dacapo_flow.factory import create_architecture, create_task
from dacapo_flow.nn.unet import CNNectomeUNet
from dacapo_flow.tasks.affinities import AffinitiesTask
from dacapo_flow.tasks.distance import DistanceTask
from dacapo_flow.tasks.one_hot import OneHotTask

LABEL_IDS = {"mito": [1], "er": [2, 4]}


def test_a_unet_config_builds_a_unet_of_that_shape():
    config = CNNectomeUNetConfig(
        input_shape=[20, 20, 20],
        fmaps_out=3,
        num_fmaps=4,
        fmap_inc_factor=2,
        downsample_factors=[[2, 2, 2]],
        eval_shape_increase=[8, 8, 8],
    )
    architecture = create_architecture(config)
    assert isinstance(architecture, CNNectomeUNet)
    assert architecture.input_shape == Coordinate(20, 20, 20)
    assert architecture.num_out_channels == 3
    out = architecture(torch.zeros(1, 1, 20, 20, 20))
    assert out.shape[:2] == (1, 3)


def test_a_2d_unet_config_builds_a_2d_unet():
    config = CNNectomeUNetConfig(input_shape=[20, 20], fmaps_out=2, num_fmaps=2, fmap_inc_factor=2)
    assert create_architecture(config)(torch.zeros(1, 1, 20, 20)).dim() == 4


def test_distance_task_gets_every_config_value():
    config = DistanceTaskConfig(
        channels=["er", "mito"],
        scale_factor=20.0,
        clipmin=0.1,
        clipmax=0.8,
        thresholds=[-0.5, 0.5],
        tol_distance=16.0,
    )
    task = create_task(config, LABEL_IDS)
    assert isinstance(task, DistanceTask)
    assert task.channels == ["er", "mito"]
    assert task.label_ids == {"er": [2, 4], "mito": [1]}
    assert (task.scale_factor, task.clipmin, task.clipmax) == (20.0, 0.1, 0.8)
    assert task.parameters == [{"threshold": -0.5}, {"threshold": 0.5}]
    assert task.tol_distance == 16.0


def test_one_hot_task_gets_every_config_value():
    task = create_task(OneHotTaskConfig(classes=["bg", "mito", "er"], kernel_size=3), LABEL_IDS)
    assert isinstance(task, OneHotTask)
    assert task.classes == ["bg", "mito", "er"]
    assert task.background == "bg"
    assert task.head_kernel_size == 3


def test_affinities_task_gets_every_config_value():
    config = AffinitiesTaskConfig(
        neighborhood=[[1, 0, 0], [0, -2, 0]], thresholds=[0.6], clipmin=0.2, clipmax=0.9
    )
    task = create_task(config, {})
    assert isinstance(task, AffinitiesTask)
    assert task.neighborhood == [(1, 0, 0), (0, -2, 0)]
    assert task.parameters == [{"threshold": 0.6}]
    assert (task.clipmin, task.clipmax) == (0.2, 0.9)


def test_a_distance_threshold_outside_prediction_range_cannot_be_built():
    # Even when a caller skips verify(), a DaCapo-style threshold of 127 is refused.
    config = DistanceTaskConfig(channels=["mito"], thresholds=[127.0])
    with pytest.raises(ValueError, match="outside"):
        create_task(config, LABEL_IDS)


def test_unknown_config_types_are_refused():
    with pytest.raises(TypeError, match="no task for config type dict"):
        create_task({"type": "distance"}, {})
    with pytest.raises(TypeError, match="no architecture for config type"):
        create_architecture(DistanceTaskConfig(channels=["mito"]))


def test_options_the_engine_has_are_reachable_from_the_config():
    config = OneHotTaskConfig(classes=["bg", "mito"], balance_classes=True, clipmax=0.7)
    task = create_task(config, {"mito": [1]})
    assert task.balance_classes and task.clipmax == 0.7
    assert task.config is config
