"""Model: DaCapo's architecture + head + eval activation, state-dict layout, shape queries."""

import math

import pytest
import torch
from funlib.geometry import Coordinate
from torch import nn

from dacapo_flow.nn.model import Model
from dacapo_flow.nn.unet import CNNectomeUNet


def architecture(batch_norm=False, **kwargs):
    kwargs.setdefault("input_shape", (20, 20, 20))
    kwargs.setdefault("downsample_factors", [(2, 2, 2)])
    return CNNectomeUNet(
        fmaps_in=1, fmaps_out=4, num_fmaps=4, fmap_inc_factor=2, batch_norm=batch_norm, **kwargs
    )


def model(eval_activation=None, **kwargs):
    torch.manual_seed(0)
    return Model(architecture(**kwargs), nn.Conv3d(4, 2, 1), eval_activation)


def test_state_dict_holds_head_and_architecture_under_both_names():
    m = model()
    keys = set(m.state_dict())
    head = {"prediction_head.weight", "prediction_head.bias", "chain.1.weight", "chain.1.bias"}
    assert head <= keys
    assert any(k.startswith("architecture.unet.") for k in keys)
    assert any(k.startswith("chain.0.unet.") for k in keys)
    state = m.state_dict()
    assert torch.equal(state["prediction_head.weight"], state["chain.1.weight"])
    assert m.prediction_head is m.chain[1] and m.architecture is m.chain[0]


def test_shapes_and_channels():
    # 20 -> 16 -> 8 -> 4 -> 8 -> 4 (valid, two 3^3 convolutions per level)
    m = model(eval_shape_increase=(16, 16, 16))
    assert m.num_in_channels == 1
    assert m.num_out_channels == 2
    assert m.input_shape == Coordinate(20, 20, 20)
    assert m.eval_input_shape == Coordinate(36, 36, 36)
    assert m.output_shape == Coordinate(4, 4, 4)
    assert m.compute_output_shape(m.eval_input_shape) == (2, Coordinate(20, 20, 20))
    with torch.no_grad():
        assert m(torch.zeros(1, 1, 36, 36, 36)).shape == (1, 2, 20, 20, 20)


def test_compute_output_shape_reports_non_divisible_shapes():
    with pytest.raises(ValueError, match="level 0"):
        model().compute_output_shape((21, 21, 21))


@pytest.mark.parametrize("training", [True, False])
def test_compute_output_shape_leaves_batch_norm_statistics_and_mode_alone(training):
    m = model(batch_norm=True)
    with torch.no_grad():  # give the running statistics non-trivial values first
        m.train()
        m(torch.randn(2, 1, 20, 20, 20))
    m.train(training)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    modes = [mod.training for mod in m.modules()]

    assert m.compute_output_shape((28, 28, 28)) == (2, Coordinate(12, 12, 12))

    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [mod.training for mod in m.modules()] == modes
    norms = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm3d)]
    assert norms and all(int(n.num_batches_tracked) == 1 for n in norms)


def test_construction_does_not_touch_batch_norm_statistics():
    m = model(batch_norm=True)
    for n in (mod for mod in m.modules() if isinstance(mod, nn.BatchNorm3d)):
        assert int(n.num_batches_tracked) == 0
        assert torch.equal(n.running_mean, torch.zeros_like(n.running_mean))
        assert torch.equal(n.running_var, torch.ones_like(n.running_var))


def test_eval_activation_only_in_eval_mode():
    m = model(eval_activation=nn.Sigmoid())
    x = torch.randn(1, 1, 20, 20, 20)
    with torch.no_grad():
        raw = m.chain(x)
        m.train()
        assert torch.equal(m(x), raw)
        m.eval()
        assert torch.allclose(m(x), torch.sigmoid(raw))


def test_without_eval_activation_eval_output_is_raw():
    m = model().eval()
    x = torch.randn(1, 1, 20, 20, 20)
    with torch.no_grad():
        assert torch.equal(m(x), m.chain(x))


def test_convolutions_get_seeded_kaiming_normal_init():
    a, b = model(), model()
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    conv = a.architecture.unet.r_conv[0][0].conv_pass[0]  # 8+8 -> 4 channels, 3^3 kernel
    fan_in = conv.in_channels * 27
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.15)
    head = a.prediction_head.weight  # kaiming too, fan_in = 4
    assert head.abs().max().item() > 1 / math.sqrt(4)  # beyond PyTorch's default uniform bound


def test_scale_delegates_to_the_architecture():
    m = Model(
        CNNectomeUNet((24, 24, 24), 1, 4, 4, 2, [(2, 2, 2)], upsample_factors=[(2, 2, 2)]),
        nn.Conv3d(4, 1, 1),
    )
    assert m.scale(Coordinate(8, 8, 8)) == Coordinate(4, 4, 4)
    assert m.output_shape == Coordinate(12, 12, 12)


@pytest.mark.parametrize(
    "changes, head_kernel",
    [
        ({}, 1),
        ({"padding": "same"}, 3),
        ({"kernel_size_down": [[(1, 3, 3)] * 2] * 2, "kernel_size_up": [[(1, 3, 3)] * 2]}, 1),
        ({"section_axis": 0, "input_shape": (20, 20), "downsample_factors": [(2, 2)]}, 3),
    ],
)
def test_computed_output_shape_is_the_traced_one(changes, head_kernel):
    """The shape every job derives without tracing equals the network's real one."""
    from dacapo_flow.nn.head import prediction_head

    arch = architecture(**changes)
    m = Model(arch, prediction_head(arch, 3, head_kernel))
    for shape in [m.input_shape, m.input_shape + Coordinate((0, 8, 8)), (9, 44, 44)]:
        try:
            traced = m.traced_output_shape(shape)
        except ValueError:
            with pytest.raises(ValueError):
                m.compute_output_shape(shape)
            continue
        assert m.compute_output_shape(shape) == traced, (changes, shape)
