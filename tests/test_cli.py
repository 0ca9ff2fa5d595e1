import json
import shutil
import subprocess
import sys

import pytest

from dacapo_flow.cli import build_parser, main
from dacapo_flow.stats.validation_scores import ValidationScores
from dacapo_flow.store.weights_store import LocalWeightsStore
from helpers_tiny import merged, run_config_dict, write_yaml

SUBCOMMANDS = [
    "train-chunk",
    "validate",
    "collect-scores",
    "select-best",
    "synthetic-data",
    "check",
]


def cli_command() -> list[str]:
    executable = shutil.which("dacapo-flow")
    return [executable] if executable else [sys.executable, "-m", "dacapo_flow.cli"]


def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command() + list(args), check=False, capture_output=True, text=True, **kwargs
    )


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def bad_config(data, tmp_path):
    spec = merged(run_config_dict(data), {"trainer_config": {"learnin_rate": 0.1}})
    return write_yaml(tmp_path / "bad run.yaml", spec)


def test_every_subcommand_is_registered():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert sorted(choices) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: dacapo-flow " + command in capsys.readouterr().out


def test_the_installed_command_answers_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in SUBCOMMANDS:
        assert command in result.stdout


def test_a_bad_run_config_exits_2_naming_file_and_key_without_traceback(bad_config, tmp_path):
    result = run_cli(
        "train-chunk",
        "--run-config",
        str(bad_config),
        "--store",
        str(tmp_path / "store"),
        "--iteration",
        "2",
    )
    assert result.returncode == 2
    assert f"{bad_config}: trainer_config.learnin_rate" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("command", ["train-chunk", "validate"])
def test_bad_configs_are_reported_by_every_run_command(command, bad_config, tmp_path, capsys):
    code = main(
        [command, "--run-config", str(bad_config), "--store", str(tmp_path), "--iteration", "2"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and f"{bad_config}: trainer_config.learnin_rate" in err


def test_a_failing_verify_is_reported_with_exit_2(data, tmp_path, capsys):
    spec = merged(run_config_dict(data), {"task_config": {"thresholds": [127.0]}})
    path = write_yaml(tmp_path / "run.yaml", spec)
    code = main(
        ["validate", "--run-config", str(path), "--store", str(tmp_path), "--iteration", "2"]
    )
    assert code == 2
    assert f"{path}: task_config.thresholds[0]: 127.0 is outside (-1, 1)" in capsys.readouterr().err


def test_check_reports_every_run(data, tmp_path, capsys):
    run = write_yaml(tmp_path / "run.yaml", run_config_dict(data, num_iterations=5))
    workflow = write_yaml(tmp_path / "config.yaml", {"runs": [{"config": str(run)}]})
    assert main(["check", "--config", str(workflow)]) == 0
    assert "tiny: 3 checkpoints, ok" in capsys.readouterr().out


def test_check_names_a_bad_workflow_config(tmp_path):
    workflow = write_yaml(tmp_path / "config.yaml", {"runs": [{"config": "x.yaml"}], "stor": 1})
    result = run_cli("check", "--config", str(workflow))
    assert result.returncode == 2
    assert f"{workflow}: stor: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [None, "runs: [unclosed\n"])
def test_check_reports_a_missing_or_malformed_workflow_config(tmp_path, content):
    workflow = tmp_path / "config.yaml"
    if content is not None:
        workflow.write_text(content)
    result = run_cli("check", "--config", str(workflow))
    assert result.returncode == 2
    assert str(workflow) in result.stderr and "Traceback" not in result.stderr


def test_synthetic_data_writes_the_containers_and_a_manifest(tmp_path):
    out = tmp_path / "synthetic"
    assert main(["synthetic-data", "--out", str(out), "--seed", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest) == ["train_0", "train_1", "validate_0"]
    for container in manifest.values():
        assert (out / container.split("/")[-1] / "raw").is_dir()


def test_train_validate_collect_and_select_through_the_command_line(data, tmp_path):
    config = write_yaml(tmp_path / "run.yaml", run_config_dict(data, name="cli"))
    store = tmp_path / "store"
    common = ["--run-config", str(config), "--store", str(store), "--threads", "1"]
    common += ["--device", "cpu"]
    assert main(["train-chunk", *common, "--iteration", "2", "--no-progress"]) == 0
    weights = LocalWeightsStore(store)
    first = weights.checkpoint_path("cli", 2)
    assert first.is_file()
    assert (
        main(["train-chunk", *common, "--iteration", "4", "--previous", str(first)])
        + main(["validate", *common, "--iteration", "2"])
        + main(["validate", *common, "--iteration", "4"])
    ) == 0
    run_dir = store / "cli"
    assert (
        main(
            [
                "collect-scores",
                "--scores",
                str(run_dir / "validation_scores/4.nc"),
                str(run_dir / "validation_scores/2.nc"),
                "--stats",
                str(run_dir / "training_stats/4.nc"),
                str(run_dir / "training_stats/2.nc"),
                "--scores-out",
                str(run_dir / "validation_scores.nc"),
                "--stats-out",
                str(run_dir / "training_stats.nc"),
            ]
        )
        == 0
    )
    scores = ValidationScores.from_netcdf(run_dir / "validation_scores.nc")
    assert [s.iteration for s in scores.scores] == [2, 4]
    args = ["--store", str(store), "--run", "cli", "--dataset", "validate_0"]
    assert main(["select-best", *args, "--criterion", "nucleus__dice"]) == 0
    assert weights.retrieve_best("cli", "validate_0", "nucleus__dice") in (2, 4)


def test_select_best_does_not_import_torch(data, tmp_path):
    from dacapo_flow.run import Run
    from dacapo_flow.stats.validation_scores import ValidationIterationScores
    from helpers_tiny import tiny_run_config

    config = tiny_run_config(data, name="light")
    scores = Run.get_validation_scores(config)
    shape = (1, 3, len(config.criteria()))
    scores.add_iteration_scores(ValidationIterationScores(2, [[[0.5] * shape[2]] * 3]))
    scores.to_netcdf(tmp_path / "light" / "validation_scores.nc")
    code = (
        "import sys\n"
        "from dacapo_flow.cli import main\n"
        f"args = ['select-best', '--store', {str(tmp_path)!r}, '--run', 'light',\n"
        "        '--dataset', 'validate_0', '--criterion', 'mito__dice']\n"
        "assert main(args) == 0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert (tmp_path / "light" / "validate_0" / "mito__dice.json").is_file()
