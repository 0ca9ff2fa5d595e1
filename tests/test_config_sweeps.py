import json

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.sweeps import (
    aliases,
    expand_sweep,
    key_alias,
    point_suffix,
    read_sweep_metadata,
    sweep_metadata,
    value_token,
)
from dacapo_flow.store.atomic import atomic_write_json
from helpers_tiny import run_config_dict, write_yaml

GRID = {"trainer_config.learning_rate": [1e-4, 3e-4], "architecture_config.num_fmaps": [4, 6]}
SOURCE = "config/config.yaml: runs[0]"


@pytest.fixture
def base(data, tmp_path):
    return write_yaml(tmp_path / "base.yaml", run_config_dict(data, name="distance"))


def names(runs):
    return [run.name for run in runs]


def test_values_are_spelled_short_and_name_safe():
    assert [value_token(v) for v in (1e-4, 3e-4, 0.001, 0.5, 1.0, 0.0, 250000.0)] == [
        "1e-4",
        "3e-4",
        "1e-3",
        "0.5",
        "1",
        "0",
        "2.5e5",
    ]
    assert value_token(8) == "8" and value_token(True) == "true" and value_token("adam") == "adam"
    assert value_token([44, 44, 44]) == "44x44x44"
    assert value_token([[2, 2, 2], [1, 2, 2]]) == "2x2x2.1x2x2"
    assert value_token({"type": "mirror"}).startswith("h")  # a stable hash
    assert value_token({"type": "mirror"}) == value_token({"type": "mirror"})


def test_keys_get_short_aliases_that_stay_distinct():
    assert key_alias("trainer_config.learning_rate") == "lr"
    assert key_alias("architecture_config.num_fmaps") == "fmaps"
    assert key_alias("trainer_config.augments.0.p") == "p"
    clash = aliases(["trainer_config.augments.0.p", "trainer_config.augments.1.p"])
    assert clash == {"trainer_config.augments.0.p": "0p", "trainer_config.augments.1.p": "1p"}
    assert point_suffix({"trainer_config.learning_rate": 1e-4, "a.num_fmaps": 8}) == "fmaps8_lr1e-4"


def test_a_grid_expands_into_named_repetitions_with_modified_configs(base):
    runs = expand_sweep(base, GRID, repetitions=2, source=SOURCE)
    assert names(runs) == [
        "distance_fmaps4_lr1e-4_rep0",
        "distance_fmaps4_lr1e-4_rep1",
        "distance_fmaps4_lr3e-4_rep0",
        "distance_fmaps4_lr3e-4_rep1",
        "distance_fmaps6_lr1e-4_rep0",
        "distance_fmaps6_lr1e-4_rep1",
        "distance_fmaps6_lr3e-4_rep0",
        "distance_fmaps6_lr3e-4_rep1",
    ]
    run = runs[5]
    assert run.repetition == 1 and run.repetitions == 2 and run.base_name == "distance"
    assert run.group == "distance_fmaps6_lr1e-4"
    assert run.point == {"architecture_config.num_fmaps": 6, "trainer_config.learning_rate": 1e-4}
    assert run.config["architecture_config"]["num_fmaps"] == 6
    assert run.run_config.trainer_config.learning_rate == 1e-4
    assert run.run_config.name == run.name and run.run_config.repetition == 1
    # Every run trains something different (own seed or own hyperparameters).
    assert len({r.run_config.stage_hash("train") for r in runs}) == len(runs)


def test_names_do_not_depend_on_key_or_value_order_or_on_added_values(base):
    before = set(names(expand_sweep(base, GRID, repetitions=1)))
    reordered = {
        "architecture_config.num_fmaps": [6, 4, 8],
        "trainer_config.learning_rate": [3e-4, 1e-4],
    }
    after = set(names(expand_sweep(base, reordered, repetitions=1)))
    assert before < after
    assert after - before == {"distance_fmaps8_lr1e-4_rep0", "distance_fmaps8_lr3e-4_rep0"}


def test_without_repetitions_each_point_is_one_run_without_suffix(base):
    runs = expand_sweep(base, {"trainer_config.learning_rate": [1e-4]})
    assert names(runs) == ["distance_lr1e-4"] and runs[0].repetitions is None


def test_a_field_absent_from_the_yaml_can_be_swept(base):
    runs = expand_sweep(base, {"trainer_config.seed": [1, 2]})
    assert [r.run_config.trainer_config.seed for r in runs] == [1, 2]


def test_a_list_item_can_be_swept(data, tmp_path):
    config = run_config_dict(data, name="d", trainer_config={"augments": [{"type": "mirror"}]})
    path = write_yaml(tmp_path / "d.yaml", config)
    runs = expand_sweep(path, {"trainer_config.augments.0.p": [0.25, 0.75]})
    assert [r.run_config.trainer_config.augments[0].p for r in runs] == [0.25, 0.75]


@pytest.mark.parametrize(
    "grid, expected",
    [
        ({"trainer_config.lerning_rate": [1e-4]}, "trainer_config.lerning_rate: not a field"),
        ({"architecture_config.num_fmaps": ["many"]}, "architecture_config.num_fmaps:"),
        ({"name": ["x"]}, "grid key 'name': the sweep sets names"),
        ({"trainer_config.learning_rate": []}, "expected a non-empty list"),
        ({"trainer_config.learning_rate": [1, 1.0]}, "would give runs the same name"),
        ({"datasplit_config.train_configs.7.name": ["x"]}, "is not an index of a list"),
        ({"num_iterations.x": [1]}, "num_iterations.x is inside a plain value"),
    ],
)
def test_bad_grid_keys_name_the_file_and_the_key(base, grid, expected):
    with pytest.raises(ConfigError) as info:
        expand_sweep(base, grid, source=SOURCE)
    message = str(info.value)
    assert message.startswith(SOURCE) and expected in message
    if "applied to" in message:
        assert str(base) in message


def test_a_grid_beyond_the_run_limit_is_refused_before_expanding(base):
    grid = {"trainer_config.seed": list(range(1000)), "trainer_config.batch_size": [1, 2, 3]}
    with pytest.raises(ConfigError) as info:
        expand_sweep(base, grid, repetitions=5, source=SOURCE)
    assert str(info.value) == (
        f"{SOURCE}: grid: 3 trainer_config.batch_size x 1000 trainer_config.seed x "
        "5 repetitions = 15000 runs; at most 10000 runs in one workflow (split the sweep, "
        "or sweep fewer values)"
    )


def test_a_point_that_fails_verification_names_the_point(base):
    with pytest.raises(ConfigError, match=r"grid point .*num_iterations.*: num_iterations"):
        expand_sweep(base, {"num_iterations": [0]}, source=SOURCE)


def test_sweep_metadata_round_trips(base, tmp_path):
    run = expand_sweep(base, GRID, repetitions=3)[4]
    start = {"run": "up", "criterion": "mito__dice", "dataset": "validate_0"}
    meta = sweep_metadata(
        run.name, run.base_name, run.point, run.repetition, run.repetitions, start=start
    )
    assert meta["group"] == run.group  # the same name the sweep gave the row
    path = atomic_write_json(tmp_path / "run" / "sweep.json", meta)
    assert read_sweep_metadata(path) == meta == json.loads(path.read_text())
    assert sweep_metadata("plain", "plain")["group"] == "plain"


def test_bad_sweep_metadata_names_file_and_key(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"run": "a", "base_name": "a", "group": "a", "grid": []}))
    with pytest.raises(ConfigError, match=rf"{path}: grid: expected a dict"):
        read_sweep_metadata(path)
