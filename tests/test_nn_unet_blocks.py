import pytest
import torch

from dacapo_flow.nn.unet_blocks import (
    ConvPass,
    Downsample,
    Upsample,
    center_crop,
    crop_to_factor_shape,
)


def test_conv_pass_valid_shrinks_by_kernel_minus_one_per_conv():
    block = ConvPass(1, 4, [(3, 3, 3), (3, 3, 3)], padding="valid")
    assert block(torch.zeros(1, 1, 12, 12, 12)).shape == (1, 4, 8, 8, 8)


def test_conv_pass_same_keeps_shape_in_2d():
    block = ConvPass(2, 3, [(3, 3)], padding="same", batch_norm=True)
    assert block(torch.zeros(2, 2, 9, 7)).shape == (2, 3, 9, 7)


def test_downsample_refuses_shapes_it_cannot_divide():
    down = Downsample((2, 2, 2), level=1)
    assert down(torch.zeros(1, 1, 8, 8, 8)).shape == (1, 1, 4, 4, 4)
    with pytest.raises(ValueError, match="level"):
        down(torch.zeros(1, 1, 9, 8, 8))


@pytest.mark.parametrize("constant", [True, False])
def test_upsample_concatenates_the_cropped_skip_connection(constant):
    up = Upsample((2, 2, 2), constant, in_channels=8, out_channels=4)
    out = up(torch.zeros(1, 8, 5, 5, 5), torch.ones(1, 3, 14, 14, 14))
    assert out.shape == (1, 3 + 4, 10, 10, 10)
    assert torch.all(out[:, :3] == 1)


def test_center_crop_takes_the_middle():
    x = torch.arange(10).reshape(1, 1, 10)
    assert center_crop(x, (4,)).flatten().tolist() == [3, 4, 5, 6]


def test_crop_to_factor_shape_keeps_translation_equivariance():
    # (s - conv_crop) must be a multiple of the factor: 13 - 4 = 9 -> 8, so 12.
    assert crop_to_factor_shape((13,), (2,), [(3,), (3,)]) == (12,)
    assert crop_to_factor_shape((12,), (2,), [(3,), (3,)]) == (12,)
