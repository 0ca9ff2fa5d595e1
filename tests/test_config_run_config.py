import pytest
from pydantic import ValidationError

from dacapo_flow.config.run_config import RunConfig, StartConfig
from helpers_tiny import dataset_entry, merged, run_config_dict


@pytest.fixture
def base(data):
    return run_config_dict(data, "distance")


def config(data_dict, **changes) -> RunConfig:
    return RunConfig.model_validate(merged(data_dict, changes))


def hashes(run_config):
    return {stage: run_config.stage_hash(stage) for stage in ("train", "validate", "select")}


def changed_stages(a, b):
    ha, hb = hashes(a), hashes(b)
    return {stage for stage in ha if ha[stage] != hb[stage]}


def test_the_tiny_config_verifies(base):
    assert config(base).verify() == (True, "RunConfig is valid")


def test_positional_arguments_follow_dacapos_field_order(base):
    by_name = config(base, start_config={"run": "upstream", "criterion": "100"})
    positional = RunConfig(
        by_name.task_config,
        by_name.architecture_config,
        by_name.trainer_config,
        by_name.datasplit_config,
        by_name.name,
        by_name.repetition,
        by_name.num_iterations,
        by_name.validation_interval,
        StartConfig(run="upstream", criterion="100"),
    )
    assert positional == by_name
    mixed = RunConfig(
        by_name.task_config,
        by_name.architecture_config,
        by_name.trainer_config,
        by_name.datasplit_config,
        name="tiny",
        repetition=0,
        num_iterations=4,
        validation_interval=2,
    )
    assert mixed.start_config is None and mixed.name == "tiny"


@pytest.mark.parametrize(
    "n, v, expected",
    [
        (4, 2, [2, 4]),
        (10, 3, [3, 6, 9, 10]),
        (3, 5, [3]),
        (7, 7, [7]),
        (1, 1, [1]),
    ],
)
def test_iterations_are_multiples_of_the_interval_and_the_last(base, n, v, expected):
    assert config(base, num_iterations=n, validation_interval=v).iterations() == expected


def test_learning_rate_changes_the_train_hash_only(base):
    changed = config(base, trainer_config={"learning_rate": 5e-3})
    assert changed_stages(config(base), changed) == {"train"}


def test_thresholds_change_the_validate_hash_only(base):
    changed = config(base, task_config={"thresholds": [-0.5, 0.5]})
    assert changed_stages(config(base), changed) == {"validate"}


def test_select_criteria_change_the_select_hash_only(base):
    changed = config(base, select_criteria=["nucleus__dice"])
    assert changed_stages(config(base), changed) == {"select"}


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "a comment"},
        {"name": "renamed"},
        {"num_iterations": 400},
        {"validation_interval": 1},
        {"trainer_config": {"num_data_fetchers": 3}},
        {"datasplit_config": {"name": "another"}},
    ],
)
def test_fields_that_change_no_result_change_no_hash(base, changes):
    assert changed_stages(config(base), config(base, **changes)) == set()


@pytest.mark.parametrize(
    "changes",
    [
        {"repetition": 1},
        {"architecture_config": {"num_fmaps": 8}},
        {"task_config": {"scale_factor": 10.0}},
        {"trainer_config": {"augments": [{"type": "mirror"}]}},
        {"start_config": {"run": "upstream", "criterion": "100"}},
    ],
)
def test_training_inputs_change_the_train_hash(base, changes):
    assert "train" in changed_stages(config(base), config(base, **changes))


def test_validation_data_changes_the_validate_hash_only(base, data):
    extra = dataset_entry(data, "extra", "train_1", "labels")
    changes = {"validate_configs": base["datasplit_config"]["validate_configs"] + [extra]}
    changed = config(base, datasplit_config=changes)
    assert changed_stages(config(base), changed) == {"validate"}


def test_derived_facts(base):
    run = config(base, select_criteria=["mito__dice", "nucleus__voi"])
    assert run.validation_dataset_names() == ["validate_0"]
    assert run.criteria()[:2] == ["nucleus__dice", "nucleus__jaccard"]
    assert run.selected_criteria() == ["mito__dice", "nucleus__voi"]
    assert config(base).selected_criteria() == config(base).criteria()
    assert run.higher_is_better("mito__dice") and not run.higher_is_better("nucleus__voi")


def test_repetitions_have_distinct_seeds(base):
    seeds = {config(base, repetition=r).seed() for r in range(4)}
    assert len(seeds) == 4
    assert config(base, trainer_config={"seed": 1}).seed() != config(base).seed()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"num_iterations": 0}, "num_iterations: must be >= 1, got 0"),
        ({"validation_interval": 0}, "validation_interval: must be >= 1, got 0"),
        ({"trainer_config": {"batch_size": 0}}, "trainer_config.batch_size: must be >= 1"),
        ({"task_config": {"thresholds": [127.0]}}, "task_config.thresholds[0]: 127.0 is outside"),
        ({"task_config": {"channels": ["golgi"]}}, "task_config.channels: label 'golgi' has no"),
        ({"select_criteria": ["golgi__dice"]}, "select_criteria: unknown ['golgi__dice']"),
        ({"start_config": {"run": "tiny", "criterion": "2"}}, "a run cannot start from itself"),
        ({"architecture_config": {"fmaps_in": 2}}, "architecture_config.fmaps_in"),
        (
            {"architecture_config": {"eval_shape_increase": [3, 3, 3]}},
            "architecture_config.eval_shape_increase[0]: 3 is not a multiple",
        ),
        ({"num_iterations": 10**9}, "num_iterations: at most 100000000, got 1000000000"),
        (
            {"num_iterations": 10**6, "validation_interval": 5},
            "validation_interval: 5 gives 200000 checkpoints over 1000000 iterations",
        ),
        ({"repetition": 10**7}, "repetition: at most 1000000"),
        (
            {"architecture_config": {"upsample_factors": [[2, 2, 2]]}},
            "architecture_config.upsample_factors[0]: [2, 2, 2] is not supported",
        ),
        (
            {
                "trainer_config": {"augments": [{"type": "elastic"}]},
                "architecture_config": {
                    "input_shape": [20, 20],
                    "downsample_factors": [[2, 2]],
                    "eval_shape_increase": [8, 8],
                },
            },
            "trainer_config.augments[0]: configured for 3D, architecture_config.input_shape is 2D",
        ),
    ],
)
def test_verify_rejects_unusable_runs_naming_the_key(base, changes, expected):
    ok, message = config(base, **changes).verify()
    assert not ok
    assert expected in message


def test_one_hot_allows_exactly_one_implicit_background_class(data):
    one_hot = run_config_dict(data, "one_hot")
    assert config(one_hot).verify()[0]
    two_missing = config(one_hot, task_config={"classes": ["background", "golgi", "mito"]})
    ok, message = two_missing.verify()
    assert not ok
    assert "'background'" in message and "'golgi'" in message


def test_the_name_must_be_usable_as_a_directory(base):
    with pytest.raises(ValidationError, match="name"):
        config(base, name="a/b")


def test_a_field_given_by_position_and_keyword_is_refused(base):
    c = config(base)
    with pytest.raises(TypeError, match="task_config"):
        RunConfig(c.task_config, task_config=c.task_config)


def test_single_kind_configs_need_no_type_key(base):
    for key in ("architecture_config", "trainer_config", "datasplit_config"):
        base[key].pop("type", None)
    c = config(base)
    assert c.architecture_config.type == "cnnectome_unet"
    assert c.datasplit_config.type == "train_validate"


def test_too_many_checkpoints_are_refused_before_listing_them(base):
    run = RunConfig.model_construct(**{**config(base).__dict__, "num_iterations": 10**12})
    with pytest.raises(ValueError, match="refusing"):
        run.iterations()


def test_best_record_problems_name_the_key_and_what_the_run_has(base):
    run = config(base, select_criteria=["mito__dice"])
    assert run.best_record_problems("mito__dice", None) == []
    assert run.best_record_problems("mito__dice", "validate_0") == []
    [criterion] = run.best_record_problems("mito__voi", "validate_0")
    assert criterion.startswith("criterion: 'mito__voi' is not selected for run 'tiny'")
    [dataset] = run.best_record_problems("mito__dice", "nope")
    assert dataset.startswith("dataset: 'nope' is not a validation dataset of run 'tiny'")
    two = dict(base)
    two["datasplit_config"] = dict(base["datasplit_config"])
    first = base["datasplit_config"]["validate_configs"][0]
    two["datasplit_config"]["validate_configs"] = [first, {**first, "name": "validate_1"}]
    [ambiguous] = config(two).best_record_problems("mito__dice", None)
    assert "has validation datasets ['validate_0', 'validate_1']; name one" in ambiguous
