"""Augment configs: defaults and checks live here once; the data layer builds from them."""

import pytest
from pydantic import ValidationError

from dacapo_flow.config.augments import (
    ElasticAugment,
    GammaAugment,
    IntensityAugment,
    MirrorAugment,
    NoiseAugment,
    parse_augment,
)


def test_dicts_parse_by_type_and_configs_pass_through():
    assert parse_augment({"type": "noise"}) == NoiseAugment()
    config = MirrorAugment(p=0.2)
    assert parse_augment(config) is config
    with pytest.raises(ValidationError, match="blur"):
        parse_augment({"type": "blur"})


@pytest.mark.parametrize(
    "config, expected",
    [
        (IntensityAugment(scale=(1.2, 0.8)), "scale: [1.2, 0.8] must be [low, high]"),
        (IntensityAugment(shift=(0.1, -0.1)), "shift: [0.1, -0.1] must be [low, high]"),
        (GammaAugment(range=(0.0, 1.0)), "range: [0.0, 1.0] must be positive"),
        (GammaAugment(range=(2.0, 1.0)), "range: [2.0, 1.0] must be [low, high]"),
        (ElasticAugment(control_point_spacing=[4, 4], sigma=[1.0]), "sigma: [1.0] needs one"),
        (ElasticAugment(control_point_spacing=[0, 4, 4]), "control_point_spacing: [0, 4, 4]"),
        (ElasticAugment(sigma=[1.0, -1.0, 1.0]), "sigma: [1.0, -1.0, 1.0] must be >= 0"),
        # finite but absurd: raw is in [0, 1], displacements are voxels
        (NoiseAugment(sigma=1e308), "sigma: at most 1 (raw is in [0, 1]), got 1e+308"),
        (IntensityAugment(scale=(0.9, 1e20)), "scale[1]: at most 10"),
        (IntensityAugment(shift=(-1e20, 0.1)), "shift[0]: |value| at most 10"),
        (GammaAugment(range=(0.8, 1e10)), "range[1]: at most 100"),
        (ElasticAugment(sigma=[1.0, 1e9, 1.0]), "sigma[1]: at most 100 (voxels)"),
        (ElasticAugment(control_point_spacing=[4, 4, 10**9]), "control_point_spacing[2]: at most"),
    ],
)
def test_problems_name_the_key(config, expected):
    ok, message = config.verify()
    assert not ok and expected in message


def test_the_bounds_themselves_pass():
    configs = [
        NoiseAugment(sigma=1.0),
        IntensityAugment(scale=(-10.0, 10.0), shift=(-10.0, 10.0)),
        GammaAugment(range=(0.5, 100.0)),
        ElasticAugment(sigma=[100.0, 100.0, 100.0]),
    ]
    assert all(config.verify()[0] for config in configs)


def test_elastic_knows_its_dimensions():
    assert ElasticAugment(control_point_spacing=[4, 4], sigma=[1.0, 1.0]).spatial_dims() == 2
    assert MirrorAugment().spatial_dims() is None


def test_clip_is_reachable_and_its_default_keeps_existing_hashes():
    assert IntensityAugment().clip is True and NoiseAugment().clip is True
    default = IntensityAugment()
    assert "clip" not in default.stage_payload("train")
    assert IntensityAugment(clip=False).stage_hash("train") != default.stage_hash("train")
