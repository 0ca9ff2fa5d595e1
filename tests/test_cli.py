import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dacapo_flow.cli import build_parser, main
from dacapo_flow.layout import Layout
from dacapo_flow.stats.validation_scores import ValidationScores
from dacapo_flow.store.weights import load_checkpoint
from dacapo_flow.store.weights_store import LocalWeightsStore
from helpers_tiny import merged, run_config_dict, write_yaml

SUBCOMMANDS = [
    "train-chunk",
    "validate",
    "collect-scores",
    "select-best",
    "synthetic-data",
    "check",
    "import-dacapo",
    "export",
    "sweep-metadata",
    "report-leaderboard",
    "report-curves",
    "report-lineage",
    "report-results",
    "report-validation-picture",
    "report-prediction-preview",
    "view",
    "score-prediction",
    "predict-prepare",
    "predict-shard",
    "segment-shard",
    "segment-merge",
    "relabel-shard",
    "predict-verify",
    "fetch-cremi",
    "normalisation",
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


def test_help_lists_the_commands_a_person_types_before_the_job_steps():
    text = run_cli("--help").stdout
    people, jobs = text.split("commands you type:")[1].split("steps the workflow's jobs call")
    assert "check" in people and "train-chunk" not in people
    assert "predict-shard" in jobs and "\n  check " not in jobs


def chunk_args(store, iteration=2, name="tiny") -> list[str]:
    layout = Layout(store)
    return [
        "--iteration",
        str(iteration),
        "--out",
        layout.checkpoint(name, iteration),
        "--stats-out",
        layout.chunk_stats(name, iteration),
    ]


def validate_args(store, iteration=2, name="tiny") -> list[str]:
    layout = Layout(store)
    return [
        "--checkpoint",
        layout.checkpoint(name, iteration),
        "--out",
        layout.checkpoint_scores(name, iteration),
        "--scratch",
        layout.scratch(name),
    ]


ARGS = {"train-chunk": chunk_args, "validate": validate_args}


def test_a_bad_run_config_exits_2_naming_file_and_key_without_traceback(bad_config, tmp_path):
    store = tmp_path / "store"
    result = run_cli("train-chunk", "--run-config", str(bad_config), *chunk_args(store))
    assert result.returncode == 2
    assert f"{bad_config}: trainer_config.learnin_rate" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not store.exists()


@pytest.mark.parametrize("command", ["train-chunk", "validate"])
def test_bad_configs_are_reported_by_every_run_command(command, bad_config, tmp_path, capsys):
    code = main([command, "--run-config", str(bad_config), *ARGS[command](tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and f"{bad_config}: trainer_config.learnin_rate" in err


def test_a_failing_verify_is_reported_with_exit_2(data, tmp_path, capsys):
    spec = merged(run_config_dict(data), {"task_config": {"thresholds": [127.0]}})
    path = write_yaml(tmp_path / "run.yaml", spec)
    code = main(["validate", "--run-config", str(path), *validate_args(tmp_path)])
    assert code == 2
    assert f"{path}: task_config.thresholds[0]: 127.0 is outside (-1, 1)" in capsys.readouterr().err


def test_a_job_whose_run_names_a_missing_array_fails_with_exit_2(data, tmp_path, capsys):
    spec = run_config_dict(data)
    spec["datasplit_config"]["validate_configs"][0]["raw"]["path"] = str(tmp_path / "no.zarr")
    path = write_yaml(tmp_path / "run.yaml", spec)
    code = main(["validate", "--run-config", str(path), *validate_args(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}: datasplit_config.validate_configs[0].raw: cannot open" in err


def test_a_truncated_checkpoint_fails_in_one_line_naming_the_file_and_the_fix(data, tmp_path):
    config = write_yaml(tmp_path / "run.yaml", run_config_dict(data, name="cli"))
    broken = Path(Layout(tmp_path / "my store").checkpoint("cli", 2))
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PK\x03\x04 truncated")
    result = run_cli(
        "validate", "--run-config", str(config), *validate_args(tmp_path / "my store", 2, "cli")
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("dacapo-flow validate: error: checkpoint ")
    assert f"snakemake --cores all --force '{broken}'" in last


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
    layout = Layout(store)
    common = ["--run-config", str(config), "--threads", "1", "--device", "cpu"]
    assert main(["train-chunk", *common, *chunk_args(store, 2, "cli"), "--no-progress"]) == 0
    first = Path(layout.checkpoint("cli", 2))
    assert first.is_file()
    assert (
        main(["train-chunk", *common, *chunk_args(store, 4, "cli"), "--previous", str(first)])
        + main(["validate", *common, *validate_args(store, 2, "cli")])
        + main(["validate", *common, *validate_args(store, 4, "cli")])
    ) == 0
    collected = [
        "collect-scores",
        "--scores",
        layout.checkpoint_scores("cli", 4),
        layout.checkpoint_scores("cli", 2),
        "--stats",
        layout.chunk_stats("cli", 4),
        layout.chunk_stats("cli", 2),
        "--scores-out",
        layout.validation_scores("cli"),
        "--stats-out",
        layout.training_stats("cli"),
    ]
    assert main(collected) == 0
    scores = ValidationScores.from_netcdf(layout.validation_scores("cli"))
    assert [s.iteration for s in scores.scores] == [2, 4]
    select = ["select-best", "--scores", layout.validation_scores("cli")]
    select += ["--dataset", "validate_0", "--criterion", "nucleus__dice", "--checkpoints"]
    select += [layout.checkpoint("cli", 2), layout.checkpoint("cli", 4)]
    select += ["--out", layout.best_record("cli", "validate_0", "nucleus__dice")]
    select += ["--weights-out", layout.best_weights("cli", "validate_0", "nucleus__dice")]
    assert main(select) == 0
    best = LocalWeightsStore(store).retrieve_best("cli", "validate_0", "nucleus__dice")
    winner = load_checkpoint(layout.checkpoint("cli", best))
    copied = load_checkpoint(layout.best_weights("cli", "validate_0", "nucleus__dice"))
    assert copied.iteration == best and copied.optimizer is None
    assert all(torch.equal(copied.model[k], v) for k, v in winner.model.items())


def test_collect_scores_does_not_import_torch(data, tmp_path):
    from dacapo_flow.run import Run
    from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats
    from dacapo_flow.stats.validation_scores import ValidationIterationScores
    from helpers_tiny import tiny_run_config

    config = tiny_run_config(data, name="light")
    scores = Run.get_validation_scores(config)
    shape = (1, 3, len(config.criteria()))
    scores.add_iteration_scores(ValidationIterationScores(2, [[[0.5] * shape[2]] * 3]))
    scores.to_netcdf(tmp_path / "2.nc")
    TrainingStats([TrainingIterationStats(0, 1.0, 0.1)]).to_netcdf(tmp_path / "stats" / "2.nc")
    code = (
        "import sys\n"
        "from dacapo_flow.cli import main\n"
        f"args = ['collect-scores', '--scores', {str(tmp_path / '2.nc')!r},\n"
        f"        '--stats', {str(tmp_path / 'stats' / '2.nc')!r},\n"
        f"        '--scores-out', {str(tmp_path / 's.nc')!r},\n"
        f"        '--stats-out', {str(tmp_path / 't.nc')!r}]\n"
        "assert main(args) == 0\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert (tmp_path / "s.nc").is_file()


def test_normalisation_does_not_import_torch(data, tmp_path):
    from workflow_support import NO_TORCH

    spec = run_config_dict(data, name="light")
    raw = spec["datasplit_config"]["train_configs"][0]["raw"]
    del raw["min"], raw["max"]
    raw["percentiles"] = [1.0, 99.0]
    config = write_yaml(tmp_path / "run.yaml", spec)
    out = tmp_path / "train_0.json"
    args = ["normalisation", "--run-config", str(config), "--dataset", "train_0"]
    code = (
        f"{NO_TORCH}\nfrom dacapo_flow.cli import main\n"
        f"assert main({[*args, '--out', str(out)]!r}) == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["percentiles"] == [1.0, 99.0]
