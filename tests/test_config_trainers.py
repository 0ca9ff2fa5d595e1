import numpy as np
import pytest
from pydantic import ValidationError

from dacapo_flow.config.trainers import TrainerConfig
from dacapo_flow.data.augment import build_augment

ALL_AUGMENTS = [
    {"type": "mirror", "p": 0.5},
    {"type": "transpose", "p": 0.5},
    {"type": "intensity", "scale": [0.9, 1.1], "shift": [-0.05, 0.05]},
    {"type": "gamma", "range": [0.8, 1.25]},
    {"type": "noise", "sigma": 0.02},
    {"type": "elastic", "control_point_spacing": [4, 4, 4], "sigma": [1.0, 1.0, 1.0]},
]


def test_defaults_verify():
    assert TrainerConfig().verify() == (True, "TrainerConfig is valid")


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("batch_size", 0, "batch_size: must be >= 1, got 0"),
        ("learning_rate", 0.0, "learning_rate: must be > 0, got 0.0"),
        ("learning_rate", -1e-3, "learning_rate: must be > 0"),
        ("weight_decay", -0.1, "weight_decay: must be >= 0"),
        ("warmup_iterations", -1, "warmup_iterations: must be >= 0"),
    ],
)
def test_verify_rejects_unusable_values(field, value, expected):
    ok, message = TrainerConfig(**{field: value}).verify()
    assert not ok
    assert expected in message


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("learning_rate", 1e30, "learning_rate: at most 1 (RAdam), got 1e+30"),
        ("learning_rate", 1.5, "learning_rate: at most 1"),
        ("weight_decay", 1e300, "weight_decay: at most 10 (decoupled decay), got 1e+300"),
    ],
)
def test_finite_but_absurd_values_are_refused(field, value, expected):
    ok, message = TrainerConfig(**{field: value}).verify()
    assert not ok and expected in message
    assert TrainerConfig(learning_rate=1.0, weight_decay=10.0).verify()[0]  # the bounds pass


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_are_refused_when_parsing(value):
    with pytest.raises(ValidationError, match="weight_decay\n.*finite number"):
        TrainerConfig(weight_decay=value)
    with pytest.raises(ValidationError, match="shift.1\n.*finite number"):
        TrainerConfig(augments=[{"type": "intensity", "shift": [0.0, value]}])


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("batch_size", 10**12, "batch_size: at most 4096"),
        ("warmup_iterations", 10**9, "warmup_iterations: at most 100000000"),
        ("seed", -1, "seed: must be in [0, 2**32)"),
        ("seed", 2**40, "seed: must be in [0, 2**32)"),
        ("num_data_fetchers", 10**6, "num_data_fetchers: 1000000 processes; at most 256"),
    ],
)
def test_absurd_sizes_are_refused(field, value, expected):
    ok, message = TrainerConfig(**{field: value}).verify()
    assert not ok and expected in message


def test_every_problem_is_reported_at_once():
    ok, message = TrainerConfig(batch_size=0, learning_rate=0).verify()
    assert not ok
    assert len(message.splitlines()) == 2


def test_augments_parse_by_type_and_reject_unknown_types_and_keys():
    config = TrainerConfig(augments=ALL_AUGMENTS)
    assert [a.type for a in config.augments] == [a["type"] for a in ALL_AUGMENTS]
    with pytest.raises(ValidationError, match="rotate"):
        TrainerConfig(augments=[{"type": "rotate"}])
    with pytest.raises(ValidationError, match="sigmaa"):
        TrainerConfig(augments=[{"type": "noise", "sigmaa": 1}])
    with pytest.raises(ValidationError, match="p"):
        TrainerConfig(augments=[{"type": "mirror", "p": 1.5}])


def test_every_augment_config_builds_the_data_layer_pipeline():
    # The training code hands model_dump(mode="json") of each augment to build_augment.
    config = TrainerConfig(augments=ALL_AUGMENTS)
    pipeline = build_augment([a.model_dump(mode="json") for a in config.augments])
    raw = np.random.default_rng(0).random((12, 12, 12), dtype=np.float32)
    gt = (raw > 0.5).astype(np.uint8)
    out_raw, out_gt, out_mask = pipeline(raw, gt, None, np.random.default_rng(1))
    assert out_raw.shape == raw.shape and out_raw.dtype == np.float32
    assert out_gt.shape == gt.shape and out_mask is None


def test_stage_tags_of_trainer_fields():
    base = TrainerConfig()
    for changed in (
        TrainerConfig(learning_rate=1e-3),
        TrainerConfig(batch_size=2),
        TrainerConfig(seed=1),
        TrainerConfig(warmup_iterations=10),
        TrainerConfig(augments=[{"type": "mirror"}]),
    ):
        assert changed.stage_hash("train") != base.stage_hash("train")
        assert changed.stage_hash("validate") == base.stage_hash("validate")
    # How batches are fetched and what the trainer is called change no result.
    for changed in (TrainerConfig(num_data_fetchers=4), TrainerConfig(name="other")):
        for stage in ("train", "validate", "select"):
            assert changed.stage_hash(stage) == base.stage_hash(stage)


def test_the_gpu_knobs_keep_existing_hashes():
    # The training hash of a config that sets none of them covers the old fields only.
    payload = TrainerConfig().stage_payload("train")
    assert set(payload) == {
        "type",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "warmup_iterations",
        "augments",
        "seed",
    }


@pytest.mark.parametrize(
    "changes", [{"precision": "bfloat16"}, {"channels_last": True}, {"compile": True}]
)
def test_knobs_that_change_the_numbers_retrain(changes):
    assert TrainerConfig(**changes).stage_hash("train") != TrainerConfig().stage_hash("train")


@pytest.mark.parametrize(
    "changes",
    [
        {"deterministic": True},
        {"cudnn_benchmark": True},
        {"num_data_fetchers": "auto"},
        {"num_data_fetchers": 0},
    ],
)
def test_knobs_that_do_not_change_the_numbers_keep_every_hash(changes):
    for stage in ("train", "validate", "select"):
        assert TrainerConfig(**changes).stage_hash(stage) == TrainerConfig().stage_hash(stage)


def test_data_fetchers_are_a_count_or_auto():
    assert TrainerConfig().num_data_fetchers == "auto"
    assert "num_data_fetchers: must be >= 0" in TrainerConfig(num_data_fetchers=-1).verify()[1]
    with pytest.raises(ValidationError):
        TrainerConfig(num_data_fetchers="many")
    with pytest.raises(ValidationError):
        TrainerConfig(precision="float64")
