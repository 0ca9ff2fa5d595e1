"""`load_plan`: config/config.yaml expanded into checked runs, errors naming file and key."""

import subprocess
import sys

import pytest

from dacapo_flow.config.datasplits import pending_outputs
from dacapo_flow.plan.runs import load_plan
from dacapo_flow.plan.starts import start_dataset
from helpers_plan import SOURCE, finetune, plan_error, upstream_config
from helpers_tiny import run_config_dict, write_yaml


@pytest.fixture
def upstream(data, tmp_path):
    return upstream_config(data, tmp_path)


def test_a_plan_lists_every_run_with_its_upstream(data, tmp_path, upstream):
    ft = finetune(data, tmp_path)
    plan = load_plan({"runs": [{"config": str(upstream)}, {"config": str(ft)}]}, SOURCE)
    assert list(plan) == ["up", "ft"]
    assert plan["up"].upstream is None and plan["ft"].upstream == "up"
    assert plan["ft"].source == ft
    assert start_dataset(plan["ft"], plan) == "validate_0"  # the only validation dataset
    assert start_dataset(plan["up"], plan) is None


def test_repetitions_become_separately_seeded_runs(upstream):
    plan = load_plan({"runs": [{"config": str(upstream), "repetitions": 3}]}, SOURCE)
    assert list(plan) == ["up_rep0", "up_rep1", "up_rep2"]
    assert [run.repetition for run in plan.values()] == [0, 1, 2]
    assert [run.config.name for run in plan.values()] == list(plan)
    assert len({run.config.seed() for run in plan.values()}) == 3
    assert len({run.config.stage_hash("train") for run in plan.values()}) == 3


def two_run_cycle(data, tmp_path):
    a = run_config_dict(data, name="a", start_config={"run": "b", "criterion": "4"})
    b = run_config_dict(data, name="b", start_config={"run": "a", "criterion": "4"})
    return {
        "runs": [
            {"config": str(write_yaml(tmp_path / "a.yaml", a))},
            {"config": str(write_yaml(tmp_path / "b.yaml", b))},
        ]
    }


def test_start_cycles_are_rejected(data, tmp_path):
    assert "start_config cycle between runs: a -> b -> a" in plan_error(
        two_run_cycle(data, tmp_path)
    )


def test_start_cycles_are_named_with_a_file(data, tmp_path):
    message = plan_error(two_run_cycle(data, tmp_path))
    assert str(tmp_path / "a.yaml") in message or str(tmp_path / "b.yaml") in message


def test_a_run_that_starts_from_itself_is_named(data, tmp_path):
    path = write_yaml(
        tmp_path / "self.yaml",
        run_config_dict(data, name="self", start_config={"run": "self", "criterion": "2"}),
    )
    message = plan_error({"runs": [{"config": str(path)}]})
    assert f"{path}: start_config.run: a run cannot start from itself" in message


def test_a_run_name_produced_twice_is_named(upstream):
    message = plan_error({"runs": [{"config": str(upstream)}, {"config": str(upstream)}]})
    assert f"{SOURCE}: runs[1]: run name 'up' is produced twice" in message


def test_errors_in_a_run_config_name_that_file(data, tmp_path, upstream):
    bad = write_yaml(
        tmp_path / "bad.yaml", run_config_dict(data, name="bad", trainer_config={"lr": 1})
    )
    message = plan_error({"runs": [{"config": str(upstream)}, {"config": str(bad)}]})
    assert f"{bad}: trainer_config.lr: Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"runs": [{"config": "x.yaml"}], "stor": "s"}, f"{SOURCE}: stor: Extra inputs"),
        ({"store": "s"}, f"{SOURCE}: runs: Field required"),
        ({"runs": []}, f"{SOURCE}: runs: List should have at least 1 item"),
        ({"runs": [{"config": "x.yaml", "repetitions": 0}]}, f"{SOURCE}: runs.0.repetitions:"),
        ({"runs": [{"file": "x.yaml"}]}, f"{SOURCE}: runs.0.config: Field required"),
        # Plain words, not Python classes
        ({"store": 5, "runs": [{"config": "x.yaml"}]}, f"{SOURCE}: store: expected a path (text)"),
        ({"runs": ["x.yaml"]}, f"{SOURCE}: runs.0: expected a mapping of keys"),
        (
            {"runs": [{"config": "x.yaml", "grid": [1]}]},
            f"{SOURCE}: runs.0.grid: expected a mapping",
        ),
    ],
)
def test_workflow_config_errors_name_the_source_and_key(config, expected):
    assert expected in plan_error(config)


def test_arrays_still_to_be_written_by_the_workflow_are_accepted(tmp_path):
    future = tmp_path / "synthetic"
    path = write_yaml(tmp_path / "run.yaml", run_config_dict(future, name="fresh"))
    config = {"runs": [{"config": str(path)}], "synthetic_data": str(future)}
    assert "cannot open" in plan_error(config)
    with pending_outputs([future]):
        assert list(load_plan(config, SOURCE)) == ["fresh"]


def test_planning_never_imports_torch(upstream):
    code = (
        "import sys\n"
        "from dacapo_flow.plan.runs import load_plan\n"
        f"plan = load_plan({{'runs': [{{'config': {str(upstream)!r}}}]}})\n"
        "assert list(plan) == ['up']\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "runs, expected",
    [
        ([{"repetitions": 10**6}], "runs[0].repetitions: 1000000 repetitions = 1000000 runs"),
        (
            [
                {
                    "grid": {
                        "trainer_config.seed": list(range(1000)),
                        "num_iterations": list(range(1, 21)),
                    }
                }
            ],
            "runs[0].grid: 20 num_iterations x 1000 trainer_config.seed = 20000 runs",
        ),
        ([{"repetitions": 6000}, {"repetitions": 6000}], "runs: its entries plan 12000 runs"),
    ],
    ids=["repetitions", "grid", "entries-together"],
)
def test_plans_beyond_the_run_limit_are_refused_before_expanding(upstream, runs, expected):
    from dacapo_flow.config.sweeps import MAX_PLANNED_RUNS

    message = plan_error({"runs": [{"config": str(upstream), **run} for run in runs]})
    assert message.startswith(f"{SOURCE}: {expected}"), message
    assert f"at most {MAX_PLANNED_RUNS} runs in one workflow" in message


def test_a_missing_run_config_names_the_entry(tmp_path):
    missing = tmp_path / "nope.yaml"
    message = plan_error({"runs": [{"config": str(missing)}]})
    assert message == f"{SOURCE}: runs[0].config: run config {missing} does not exist"
