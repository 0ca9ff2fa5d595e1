"""`import-dacapo` lists what still needs the user (start, data paths, data fetchers, warm-up)
and writes a start_config from the DaCapo store with `--start`; on the real DaCapo 0.3.5
store of the parity sample."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from dacapo_flow.cli import main
from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.interop.cli import run_config_yaml
from dacapo_flow.interop.dacapo_config import import_dacapo_run
from dacapo_flow.interop.import_checks import (
    TRAIN_CHUNK_THREADS,
    import_findings,
    start_from_store,
)

REPO = Path(__file__).resolve().parents[1]
from helpers_dacapo import with_data

PARITY = REPO.parent / "shared/reference/dacapo-parity"
STORE = PARITY / "store"
RUN = "peer_bench_stock2"
pytestmark = pytest.mark.skipif(not STORE.exists(), reason=f"DaCapo parity sample {PARITY} absent")


@pytest.fixture(scope="module")
def imported():
    config, _ = import_dacapo_run(STORE, RUN)
    return config


def keys(findings: list[str]) -> list[str]:
    return [line.split(": ", 1)[0] for line in findings]


def test_the_parity_import_lists_start_paths_and_warmup(imported):
    findings = import_findings(imported, STORE, RUN)
    assert keys(findings) == [
        "start_config",
        "datasplit_config.train_configs[0].raw.path",
        "datasplit_config.train_configs[0].gt.path",
        "datasplit_config.validate_configs[0].raw.path",
        "datasplit_config.validate_configs[0].gt.path",
        "trainer_config.warmup_iterations",
    ]
    assert "--start ITERATION (its checkpoints: [100])" in findings[0]
    assert "<store>/data/train.zarr does not exist on this machine" in findings[1]


def test_nothing_to_check_when_start_data_and_schedule_fit(imported, tmp_path):
    config = with_data(imported, tmp_path)
    config["start_config"] = start_from_store(STORE, RUN, "100")
    config["num_iterations"] = 1000
    assert import_findings(config, STORE, RUN) == []


def test_start_writes_a_start_config_from_the_dacapo_store(imported, tmp_path):
    start = start_from_store(STORE, RUN, "100")
    assert start == {"runs_base_dir": str(STORE.resolve()), "run": RUN, "iteration": 100}
    config = RunConfig.model_validate(with_data(imported, tmp_path) | {"start_config": start})
    assert config.start_config.iteration == 100
    with pytest.raises(
        ConfigError, match=r"--start 300: .*iterations/300 does not exist .*\[100\]"
    ):
        start_from_store(STORE, RUN, "300")
    with pytest.raises(ConfigError, match=r"--start mito__dice: no DaCapo best record"):
        start_from_store(STORE, RUN, "mito__dice")


def test_a_start_that_does_not_resolve_is_listed(imported):
    config = dict(
        imported, start_config={"runs_base_dir": str(STORE), "run": "gone", "iteration": 5}
    )
    (finding,) = [f for f in import_findings(config, STORE, RUN) if f.startswith("start_config")]
    assert "gone/checkpoints/iterations/5 does not exist" in finding


@pytest.mark.parametrize("fetchers, listed", [(5, True), (1, False), (0, False), ("auto", False)])
def test_more_data_fetchers_than_a_train_job_has_threads_are_listed(imported, fetchers, listed):
    config = copy.deepcopy(imported)
    config["trainer_config"]["num_data_fetchers"] = fetchers
    findings = import_findings(config, STORE, RUN)
    assert ("trainer_config.num_data_fetchers" in keys(findings)) == listed


def test_the_thread_count_is_the_train_rule_s():
    rule = (REPO / "workflow/rules/train.smk").read_text()
    assert re.search(r"^\s*threads: (\d+)$", rule, re.MULTILINE).group(1) == str(
        TRAIN_CHUNK_THREADS
    )


def test_a_warmup_longer_than_a_short_finetune_is_listed_with_its_peak_rate(imported):
    config = copy.deepcopy(imported)
    config["num_iterations"] = 100
    config["trainer_config"]["learning_rate"] = 5e-5
    (finding,) = [f for f in import_findings(config, STORE, RUN) if "warmup" in f]
    assert "1000 (DaCapo 0.3.5's fixed warm-up) outlasts num_iterations 100" in finding
    assert "rises from 5e-07 only to 5.45e-06 (of 5e-05)" in finding
    config["trainer_config"]["warmup_iterations"] = 0
    assert not [f for f in import_findings(config, STORE, RUN) if "warmup" in f]


def test_the_yaml_lists_what_to_check_even_when_every_key_translated():
    text = run_config_yaml({"name": "x"}, [], "s.yaml", ["start_config: none"])
    assert "# Every key was translated.\n# Translated, but check before training:\n" in text
    assert "#   - start_config: none" in text


def test_the_cli_writes_the_start_and_prints_what_to_check(tmp_path, capsys):
    out = tmp_path / "imported.yaml"
    args = ["import-dacapo", "--store", str(STORE), "--run", RUN, "--out", str(out)]
    assert main([*args, "--start", "100"]) == 0
    config = yaml.safe_load(out.read_text())
    assert config["start_config"]["iteration"] == 100
    err = capsys.readouterr().err
    assert "check: datasplit_config.train_configs[0].raw.path:" in err
    assert "check: start_config" not in err
    assert main([*args, "--start", "7"]) == 2
    assert "--start 7:" in capsys.readouterr().err
