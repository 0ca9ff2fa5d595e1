"""Where planned runs start from: the upstream checks at plan load and the one resolver of
the start file (the Snakefile's input) and dataset (the report's lineage)."""

import pytest

from dacapo_flow.layout import Layout
from dacapo_flow.plan.runs import load_plan
from dacapo_flow.plan.starts import start_dataset, start_file
from helpers_plan import SOURCE, finetune, plan_error, upstream_config
from helpers_tiny import merged, run_config_dict, write_yaml


@pytest.fixture
def upstream(data, tmp_path):
    return upstream_config(data, tmp_path)


def test_an_unknown_upstream_run_is_named_with_file_and_key(data, tmp_path, upstream):
    ft = finetune(data, tmp_path, run="nope")
    message = plan_error({"runs": [{"config": str(upstream)}, {"config": str(ft)}]})
    assert message.startswith(f"{ft}: start_config.run: run 'nope' is not among the runs")


def test_an_upstream_with_repetitions_must_be_named_by_repetition(data, tmp_path, upstream):
    ft = finetune(data, tmp_path)
    runs = [{"config": str(upstream), "repetitions": 2}, {"config": str(ft)}]
    assert f"{ft}: start_config.run: run 'up' is not among" in plan_error({"runs": runs})
    ft_rep = finetune(data, tmp_path, name="ft1", run="up_rep1")
    plan = load_plan({"runs": [runs[0], {"config": str(ft_rep)}]}, SOURCE)
    assert plan["ft1"].upstream == "up_rep1"


def test_a_criterion_the_upstream_does_not_select_is_named(data, tmp_path, upstream):
    ft = finetune(data, tmp_path, criterion="nucleus__voi")
    message = plan_error({"runs": [{"config": str(upstream)}, {"config": str(ft)}]})
    assert f"{ft}: start_config.criterion: 'nucleus__voi' is not selected for run 'up'" in message


def test_an_iteration_criterion_must_be_a_checkpoint_of_the_upstream(data, tmp_path, upstream):
    runs = [{"config": str(upstream)}]
    good = finetune(data, tmp_path, name="good", criterion="4")
    assert load_plan({"runs": runs + [{"config": str(good)}]}, SOURCE)["good"].upstream == "up"
    bad = finetune(data, tmp_path, name="bad", criterion="3")
    message = plan_error({"runs": runs + [{"config": str(bad)}]})
    assert f"{bad}: start_config.criterion: run 'up' has no checkpoint 3" in message


def test_an_unknown_start_dataset_is_named(data, tmp_path, upstream):
    ft = finetune(data, tmp_path, dataset="validate_9")
    message = plan_error({"runs": [{"config": str(upstream)}, {"config": str(ft)}]})
    assert f"{ft}: start_config.dataset: 'validate_9' is not a validation dataset" in message


def test_the_start_dataset_is_required_when_the_upstream_has_several(data, tmp_path):
    up = run_config_dict(data, name="up", select_criteria=["nucleus__dice"])
    second = merged(up["datasplit_config"]["validate_configs"][0], {"name": "validate_1"})
    up["datasplit_config"]["validate_configs"].append(second)
    up_path = write_yaml(tmp_path / "up.yaml", up)
    ft = finetune(data, tmp_path)
    message = plan_error({"runs": [{"config": str(up_path)}, {"config": str(ft)}]})
    assert f"{ft}: start_config.dataset: run 'up' has validation datasets" in message


def test_the_start_file_is_the_upstreams_winner_or_checkpoint(data, tmp_path, upstream):
    """What the Snakefile makes a finetune's first chunk depend on, and training loads."""
    layout = Layout(tmp_path / "store")
    by_criterion = finetune(data, tmp_path)
    by_iteration = finetune(data, tmp_path, name="ft4", criterion="4")
    runs = [{"config": str(p)} for p in (upstream, by_criterion, by_iteration)]
    plan = load_plan({"runs": runs}, SOURCE)
    assert start_file(plan["ft"], plan, layout) == layout.best_weights(
        "up", "validate_0", "nucleus__dice"
    )
    assert start_file(plan["ft4"], plan, layout) == layout.checkpoint("up", 4)
    assert start_dataset(plan["ft4"], plan) is None
