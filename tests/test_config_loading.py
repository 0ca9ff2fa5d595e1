import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.tasks import DistanceTaskConfig
from helpers_tiny import merged, run_config_dict, write_yaml


@pytest.fixture
def base(data):
    return run_config_dict(data, "distance")


def load_error(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    return str(info.value)


def test_a_valid_yaml_loads_as_a_run_config(base, tmp_path):
    config = load_run_config(write_yaml(tmp_path / "run.yaml", base))
    assert config.name == "tiny"
    assert isinstance(config.task_config, DistanceTaskConfig)
    assert config.iterations() == [2, 4]


def test_unknown_keys_are_named_with_file_and_key_path(base, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", merged(base, {"trainer_config": {"learnin_rate": 1}}))
    assert f"{path}: trainer_config.learnin_rate: Extra inputs are not permitted" in load_error(
        path
    )


def test_unknown_keys_deep_in_lists_are_named(base, tmp_path):
    data = merged(base, {})
    data["datasplit_config"]["train_configs"][1]["raw"]["chunks"] = 3
    path = write_yaml(tmp_path / "run.yaml", data)
    assert f"{path}: datasplit_config.train_configs.1.raw.chunks:" in load_error(path)


def test_wrong_types_are_named(base, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", merged(base, {"trainer_config": {"batch_size": "x"}}))
    message = load_error(path)
    assert f"{path}: trainer_config.batch_size:" in message
    assert "integer" in message


def test_missing_fields_are_named(base, tmp_path):
    data = merged(base, {})
    del data["architecture_config"]["fmaps_out"]
    del data["num_iterations"]
    path = write_yaml(tmp_path / "run.yaml", data)
    message = load_error(path)
    assert f"{path}: architecture_config.fmaps_out: Field required" in message
    assert f"{path}: num_iterations: Field required" in message


def test_an_unknown_task_type_is_named(base, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", merged(base, {"task_config": {"type": "golgi"}}))
    message = load_error(path)
    assert f"{path}: task_config:" in message and "golgi" in message


def test_verify_problems_are_named_with_the_file(base, tmp_path):
    changes = {"task_config": {"thresholds": [0.0, 127.0]}, "trainer_config": {"batch_size": 0}}
    path = write_yaml(tmp_path / "run.yaml", merged(base, changes))
    message = load_error(path)
    assert f"{path}: task_config.thresholds[1]: 127.0 is outside (-1, 1)" in message
    assert f"{path}: trainer_config.batch_size: must be >= 1, got 0" in message


def test_loading_checks_the_values_and_opens_no_array(base, tmp_path):
    """Arrays are checked by each job (tests/test_cli.py) and by the plan."""
    data = merged(base, {})
    data["datasplit_config"]["validate_configs"][0]["raw"]["path"] = str(tmp_path / "no.zarr")
    path = write_yaml(tmp_path / "run.yaml", data)
    assert load_run_config(path).name == base["name"]


def test_verify_can_be_skipped(base, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", merged(base, {"trainer_config": {"batch_size": 0}}))
    assert load_run_config(path, verify=False).trainer_config.batch_size == 0


def test_name_and_repetition_overrides(base, tmp_path):
    path = write_yaml(tmp_path / "run.yaml", base)
    config = load_run_config(path, name="tiny_rep3", repetition=3)
    assert (config.name, config.repetition) == ("tiny_rep3", 3)


def test_unreadable_or_malformed_files_are_config_errors(tmp_path):
    missing = tmp_path / "missing.yaml"
    assert f"{missing}: cannot read" in load_error(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    assert f"{broken}: not valid YAML" in load_error(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    assert f"{listing}: expected a mapping" in load_error(listing)


def test_duplicate_keys_are_refused_naming_file_key_path_and_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(
        "name: a\n"
        "num_iterations: 4\n"
        "trainer_config:\n"
        "  learning_rate: 0.1\n"
        "  learning_rate: 0.2\n"
        "datasplit_config:\n"
        "  train_configs:\n"
        "    - name: t\n"
        "      name: u\n"
        "num_iterations: 40\n"
    )
    message = load_error(path)
    assert f"{path}: num_iterations: given twice (lines 2 and 10)" in message
    assert f"{path}: trainer_config.learning_rate: given twice (lines 4 and 5)" in message
    assert f"{path}: datasplit_config.train_configs[0].name: given twice (lines 8 and 9)" in message


def test_yaml_anchors_and_merge_keys_are_not_duplicates(tmp_path):
    from dacapo_flow.config.loading import read_yaml

    path = tmp_path / "anchors.yaml"
    path.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nthird: *b\n")
    assert read_yaml(path) == {"base": {"x": 1}, "other": {"x": 1, "y": 2}, "third": {"x": 1}}
