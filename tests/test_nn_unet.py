"""CNNectomeUNet: output shapes (funlib semantics), shape errors, scaling, attributes."""

import pytest
import torch
from funlib.geometry import Coordinate
from torch import nn

from dacapo_flow.nn.unet import CNNectomeUNet


def unet(input_shape, downsample, **kwargs):
    kwargs.setdefault("fmaps_in", 1)
    kwargs.setdefault("fmaps_out", 3)
    kwargs.setdefault("num_fmaps", 2)
    kwargs.setdefault("fmap_inc_factor", 2)
    return CNNectomeUNet(input_shape=input_shape, downsample_factors=downsample, **kwargs)


def run(net, shape, channels=1):
    with torch.no_grad():
        return net(torch.zeros(1, channels, *shape)).shape


def test_valid_3d_output_shape_matches_cnnectome():
    # 76 -conv-> 72 -pool-> 36 -> 32 -> 16 -> 12 -up-> 24 -> 20 -up-> 40 -> 36
    net = unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)])
    assert net.output_shape_for((76, 76, 76)) == Coordinate(36, 36, 36)
    assert run(net, (76, 76, 76)) == (1, 3, 36, 36, 36)


def test_valid_2d_output_shape():
    net = unet((76, 76), [(2, 2), (2, 2)], fmaps_in=2)
    assert net.dims == 2
    assert run(net, (76, 76), channels=2) == (1, 3, 36, 36)


def test_valid_shape_with_transposed_conv_upsampling():
    net = unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)], constant_upsample=False)
    assert any(isinstance(m, nn.ConvTranspose3d) for m in net.modules())
    assert run(net, (76, 76, 76)) == (1, 3, 36, 36, 36)


@pytest.mark.parametrize("constant_upsample", [True, False])
@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 16)])
def test_same_padding_keeps_the_input_shape(shape, constant_upsample):
    factors = [(2,) * len(shape)] * 2
    net = unet(shape, factors, padding="same", constant_upsample=constant_upsample)
    assert net.output_shape_for(shape) == Coordinate(shape)
    assert run(net, shape)[2:] == shape


def test_anisotropic_factors_and_custom_kernels():
    kernels = [[(1, 3, 3), (1, 3, 3)]] * 3
    net = unet(
        (12, 76, 76),
        [(1, 2, 2), (1, 2, 2)],
        kernel_size_down=kernels,
        kernel_size_up=kernels[:2],
    )
    assert run(net, (12, 76, 76)) == (1, 3, 12, 36, 36)


def test_single_level_without_downsampling_outputs_fmaps_out():
    net = unet((12, 12), [], fmaps_out=5)
    assert run(net, (12, 12)) == (1, 5, 8, 8)


def test_larger_evaluation_input_gives_matching_output():
    net = unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)], eval_shape_increase=(8, 8, 8))
    assert net.eval_shape_increase == Coordinate(8, 8, 8)
    assert net.output_shape_for(net.input_shape + net.eval_shape_increase) == Coordinate(44, 44, 44)


def test_non_divisible_input_shape_fails_at_construction_naming_level_and_shape():
    with pytest.raises(ValueError, match=r"\(71, 71, 71\) at level 0"):
        unet((75, 75, 75), [(2, 2, 2), (2, 2, 2)])


def test_non_divisible_deeper_level_is_named():
    # 78 -> 74 -> 37 -> 33: level 1 cannot be pooled by 2
    with pytest.raises(ValueError, match=r"\(33, 33, 33\) at level 1"):
        unet((78, 78, 78), [(2, 2, 2), (2, 2, 2)])


def test_non_divisible_evaluation_shape_fails_at_construction():
    with pytest.raises(ValueError, match="level 0"):
        unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)], eval_shape_increase=(1, 1, 1))


def test_too_small_input_fails_with_clear_error():
    with pytest.raises(ValueError, match="too small"):
        unet((8, 8, 8), [(2, 2, 2), (2, 2, 2)])


def test_forward_on_non_divisible_shape_names_the_level():
    net = unet((76, 76), [(2, 2), (2, 2)])
    with pytest.raises(ValueError, match=r"level 0: cannot max-pool .*\(71, 71\)"):
        run(net, (75, 75))


def test_upsample_factors_scale_voxel_size_and_output():
    net = unet((24, 24, 24), [(2, 2, 2)], upsample_factors=[(2, 2, 2)])
    assert net.scale(Coordinate(8, 8, 8)) == Coordinate(4, 4, 4)
    # U-Net: 24 -> 20 -> 10 -> 6 -> 12 -> 8; then x2 -> 16 and two 3^3 convolutions -> 12
    assert net.output_shape_for((24, 24, 24)) == Coordinate(12, 12, 12)
    assert run(net, (24, 24, 24)) == (1, 3, 12, 12, 12)
    with pytest.raises(ValueError, match="not divisible"):
        net.scale((5, 8, 8))


def test_attributes_and_defaults():
    net = unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)], fmaps_in=2, fmaps_out=5)
    assert net.num_in_channels == 2
    assert net.num_out_channels == 5
    assert net.input_shape == Coordinate(76, 76, 76)
    assert isinstance(net.input_shape, Coordinate)
    assert net.eval_shape_increase == Coordinate(0, 0, 0)
    assert net.dims == 3
    assert net.scale(Coordinate(4, 4, 4)) == Coordinate(4, 4, 4)


def test_feature_map_counts_follow_fmap_inc_factor():
    net = unet((76, 76, 76), [(2, 2, 2), (2, 2, 2)], num_fmaps=4, fmap_inc_factor=3)
    convs = [m for m in net.unet.l_conv.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [4, 4, 12, 12, 36, 36]


def test_batch_norm_layers_are_added_on_request():
    plain = unet((24, 24, 24), [(2, 2, 2)], padding="same")
    normed = unet((24, 24, 24), [(2, 2, 2)], padding="same", batch_norm=True)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm3d) for m in normed.modules()) == 6  # 2 + 2 down, 2 up


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError, match="2D or 3D"):
        unet((8,), [(2,)])
    with pytest.raises(ValueError, match="padding"):
        unet((24, 24), [(2, 2)], padding="reflect")
    with pytest.raises(ValueError, match="downsample_factors"):
        unet((24, 24, 24), [(2, 2)])
    with pytest.raises(ValueError, match="kernel_size_down"):
        unet((24, 24, 24), [(2, 2, 2)], kernel_size_down=[[(3, 3, 3)]])
