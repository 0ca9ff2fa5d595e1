import pytest
from funlib.geometry import Coordinate
from pydantic import ValidationError

from dacapo_flow.config.architectures import CNNectomeUNetConfig
from dacapo_flow.factory import create_architecture


def unet(**changes):
    fields = {
        "input_shape": [20, 20, 20],
        "fmaps_out": 4,
        "num_fmaps": 4,
        "fmap_inc_factor": 2,
        "downsample_factors": [[2, 2, 2]],
    }
    fields.update(changes)
    return CNNectomeUNetConfig(**fields)


def test_a_plain_unet_config_verifies():
    assert unet(eval_shape_increase=[8, 8, 8]).verify()[0]


def test_required_fields_and_dimensions_are_enforced_when_parsing():
    with pytest.raises(ValidationError, match="fmaps_out"):
        CNNectomeUNetConfig(input_shape=[20, 20, 20], num_fmaps=4, fmap_inc_factor=2)
    with pytest.raises(ValidationError, match="input_shape"):
        unet(input_shape=[20])
    with pytest.raises(ValidationError, match="input_shape"):
        unet(input_shape=[20, 20, 20, 20])
    with pytest.raises(ValidationError, match="padding"):
        unet(padding="reflect")
    with pytest.raises(ValidationError, match="num_fmaps"):
        unet(num_fmaps=0)


def test_downsample_factors_must_match_the_input_dimensions():
    ok, message = unet(downsample_factors=[[2, 2]]).verify()
    assert not ok
    assert "downsample_factors[0]: [2, 2] has 2 dims, input has 3" in message


def test_eval_shape_increase_must_fit_the_total_downsampling():
    config = unet(downsample_factors=[[2, 2, 2], [3, 3, 3]], eval_shape_increase=[6, 12, 8])
    ok, message = config.verify()
    assert not ok
    assert "eval_shape_increase[2]: 8 is not a multiple of the total downsampling 6" in message
    assert "eval_shape_increase[0]" not in message


def test_eval_shape_increase_needs_one_value_per_dimension():
    ok, message = unet(eval_shape_increase=[8, 8]).verify()
    assert not ok and "eval_shape_increase: needs 3 values" in message


def test_every_config_field_reaches_the_architecture():
    config = unet(
        input_shape=[24, 24, 24],
        eval_shape_increase=[8, 8, 8],
        kernel_size_down=[[[3, 3, 3], [3, 3, 3]], [[3, 3, 3], [3, 3, 3]]],
        kernel_size_up=[[[3, 3, 3], [3, 3, 3]]],
        constant_upsample=False,
        batch_norm=True,
    )
    architecture = create_architecture(config)
    assert architecture.input_shape == Coordinate(24, 24, 24)
    assert architecture.eval_shape_increase == Coordinate(8, 8, 8)
    assert architecture.num_in_channels == 1
    assert architecture.num_out_channels == 4
    assert any("BatchNorm" in type(m).__name__ for m in architecture.modules())


def test_eval_shape_increase_affects_validation_not_training():
    base = unet(eval_shape_increase=[8, 8, 8])
    bigger = unet(eval_shape_increase=[16, 16, 16])
    assert base.stage_hash("train") == bigger.stage_hash("train")
    assert base.stage_hash("validate") != bigger.stage_hash("validate")
    assert base.stage_hash("train") != unet(num_fmaps=8).stage_hash("train")


def test_downsample_factors_with_extra_dimensions_fail_verify():
    ok, message = unet(downsample_factors=[[2, 2, 2, 2]]).verify()
    assert not ok
    assert "downsample_factors[0]: [2, 2, 2, 2] has 4 dims, input has 3" in message


def test_non_trivial_upsample_factors_are_refused_and_unit_ones_allowed():
    ok, message = unet(upsample_factors=[[2, 2, 2]]).verify()
    assert not ok and "upsample_factors[0]: [2, 2, 2] is not supported" in message
    assert unet(input_shape=[24, 24, 24], upsample_factors=[[1, 1, 1]]).verify()[0]


def test_shapes_are_traced_from_the_config_for_training_and_evaluation():
    ok, message = unet(input_shape=[21, 20, 20]).verify()
    assert not ok and message.startswith("input_shape: the input shape does not fit")
    assert "(17, 16, 16) at level 0" in message
    assert unet().output_shape([20, 20, 20]) == (4, 4, 4)
    assert unet(eval_shape_increase=[8, 8, 8]).eval_input_shape() == [28, 28, 28]


def test_absurd_sizes_are_refused():
    ok, message = unet(num_fmaps=2**12, fmap_inc_factor=32).verify()
    assert not ok and "num_fmaps: 4096 * fmap_inc_factor 32 ** 1 levels" in message
    ok, message = unet(input_shape=[2000, 2000, 2000]).verify()
    assert not ok and "input_shape: the input shape [2000, 2000, 2000] has" in message


def test_body_signature_ignores_shapes_and_fills_default_kernels():
    base = unet().body_signature()
    assert base == unet(input_shape=[28, 28, 28], padding="same").body_signature()
    assert base["kernel_size_down"] == [[[3, 3, 3]] * 2] * 2
    assert base != unet(num_fmaps=8).body_signature()
