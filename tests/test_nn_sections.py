"""A 2D U-Net run section by section over 3D data (`section_axis`)."""

import pytest
import torch
from funlib.geometry import Coordinate

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.nn.unet import CNNectomeUNet
from dacapo_flow.tasks.one_hot import OneHotTask


def unet(section_axis):
    return CNNectomeUNet(
        input_shape=(20, 20),
        fmaps_in=1,
        fmaps_out=3,
        num_fmaps=3,
        fmap_inc_factor=2,
        downsample_factors=[(2, 2)],
        eval_shape_increase=(8, 8),
        section_axis=section_axis,
    )


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_shapes_are_3d_with_one_section(axis):
    net = unet(axis)
    expected = [20, 20]
    expected.insert(axis, 1)
    assert net.input_shape == Coordinate(expected)
    assert net.eval_shape_increase[axis] == 0
    out = net.output_shape_for(net.input_shape)
    assert out[axis] == 1 and out == net.output_shape_for(tuple(net.input_shape))
    several = list(net.input_shape)
    several[axis] = 5
    assert net.output_shape_for(several)[axis] == 5


def test_each_section_is_the_2d_network_applied_alone():
    torch.manual_seed(0)
    net = unet(0).eval()
    x = torch.randn(2, 1, 3, 20, 20)
    y = net(x)
    assert y.shape == (2, 3, 3, 4, 4)
    for z in range(3):
        torch.testing.assert_close(y[:, :, z], net.unet(x[:, :, z]))
    # Along another axis too.
    net = unet(2).eval()
    x = torch.randn(1, 1, 20, 20, 4)
    torch.testing.assert_close(net(x)[..., 1], net.unet(x[..., 1]))


def test_the_head_stays_in_plane():
    task = OneHotTask.from_config(
        OneHotTask.config_class(classes=["bg", "fg"], kernel_size=3), {"fg": [1]}
    )
    model = task.create_model(unet(0))
    assert tuple(model.prediction_head.kernel_size) == (1, 3, 3)
    assert model.output_shape == Coordinate(1, 2, 2)


def test_config_refuses_a_section_axis_on_a_3d_network():
    config = CNNectomeUNetConfig(
        input_shape=[20, 20, 20], fmaps_out=2, num_fmaps=2, fmap_inc_factor=2, section_axis=0
    )
    assert any(p.startswith("section_axis:") for p in config.problems())
    flat = CNNectomeUNetConfig(
        input_shape=[20, 20], fmaps_out=2, num_fmaps=2, fmap_inc_factor=2, section_axis=0
    )
    assert flat.problems() == [] and flat.data_dims == 3
    assert flat.data_shape(flat.output_shape(flat.input_shape)) == [1, 16, 16]
