"""The torch-free shape trace agrees with what the network really outputs."""

import pytest
import torch

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.config.unet_shapes import (
    ShapeError,
    crop_factors,
    kernel_lists,
    trace_output_shape,
)
from dacapo_flow.factory import create_architecture

# (input shape, downsample factors, other fields)
CONFIGS = [
    ([20, 20, 20], [[2, 2, 2]], {}),
    ([76, 76, 76], [[2, 2, 2], [2, 2, 2]], {"constant_upsample": False}),
    ([21, 76, 76], [[1, 2, 2], [1, 2, 2]], {}),
    ([60, 60], [[2, 2], [3, 3]], {}),
    ([24, 24, 24], [[2, 2, 2]], {"kernel_size_down": [[[3, 3, 3], [1, 3, 3]], [[3, 3, 3]]]}),
    ([16, 16, 16], [[2, 2, 2], [2, 2, 2]], {"padding": "same"}),
    ([12, 12], [], {}),
    ([24, 24, 24], [[2, 2, 2]], {"upsample_factors": [[1, 1, 1]]}),
]


@pytest.mark.parametrize("shape, factors, fields", CONFIGS)
def test_trace_equals_a_real_forward_pass(shape, factors, fields):
    config = CNNectomeUNetConfig(
        input_shape=shape,
        fmaps_out=2,
        num_fmaps=2,
        fmap_inc_factor=2,
        downsample_factors=factors,
        **fields,
    )
    assert config.verify()[0]
    network = create_architecture(config)
    with torch.no_grad():
        out = network(torch.zeros(1, 1, *shape))
    assert config.output_shape(shape) == tuple(out.shape[2:])


def test_crop_factors_multiply_the_factors_below_each_level():
    assert crop_factors([[2, 2], [3, 1]]) == [(6, 2), (3, 1)]
    assert crop_factors([]) == []


def test_kernel_lists_fill_defaults_and_refuse_malformed_lists():
    assert kernel_lists(None, 2, 2, "k") == [[(3, 3), (3, 3)], [(3, 3), (3, 3)]]
    assert kernel_lists([[3, [1, 3]]], 1, 2, "k") == [[(3, 3), (1, 3)]]
    with pytest.raises(ShapeError, match="k: needs 2 lists"):
        kernel_lists([[3]], 2, 2, "k")
    with pytest.raises(ShapeError, match="k: entry \\[3, 3, 3\\] does not have 2"):
        kernel_lists([[[3, 3, 3]]], 1, 2, "k")


def test_shapes_that_cannot_be_pooled_name_the_level():
    kernels = kernel_lists(None, 2, 3, "k")
    with pytest.raises(ShapeError, match=r"\(17, 17, 17\) at level 0"):
        trace_output_shape((21, 21, 21), [[2, 2, 2]], kernels, kernels[:1])
    with pytest.raises(ShapeError, match="below 1"):
        trace_output_shape((0, 20, 20), [[2, 2, 2]], kernels, kernels[:1])
