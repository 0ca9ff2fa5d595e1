"""Planning helpers: a run config 'up' and finetunes of it, and the error of a bad plan."""

import pytest

from dacapo_flow.config.base import ConfigError
from dacapo_flow.plan.runs import load_plan
from helpers_tiny import run_config_dict, write_yaml

SOURCE = "config/config.yaml"


def upstream_config(data, tmp_path):
    """A run config 'up' selecting two criteria on one validation dataset."""
    changes = {"name": "up", "select_criteria": ["nucleus__dice", "mito__dice"]}
    return write_yaml(tmp_path / "up.yaml", run_config_dict(data, **changes))


def finetune(data, tmp_path, name="ft", **start):
    start = {"run": "up", "criterion": "nucleus__dice", **start}
    return write_yaml(
        tmp_path / f"{name}.yaml", run_config_dict(data, name=name, start_config=start)
    )


def plan_error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_plan(config, SOURCE)
    return str(info.value)
