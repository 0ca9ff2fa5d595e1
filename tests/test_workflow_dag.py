"""The DAG the workflow builds (DESIGN §3), from dry runs of the tiny config; config errors
caught before any job starts; `snakemake --lint` and `snakefmt --check` on the repo."""

import shutil
import subprocess
import sys
from collections import Counter

import pytest

from workflow_support import (
    REPO_ROOT,
    STORE,
    WORKFLOW_ITEMS,
    dry_run,
    edit_run_config,
    install_workflow,
    run_snakemake,
    snakemake_env,
)

pytestmark = pytest.mark.workflow

# Jobs of the tiny config: distance (checkpoints 2, 4; two criteria), affinities (2, 3; one
# criterion), finetune of distance's best mito__dice (2; one criterion), and the data.
EXPECTED_JOBS = Counter(
    {
        ("synthetic_data", None): 1,
        ("train_chunk", "distance"): 2,
        ("validate", "distance"): 2,
        ("collect_scores", "distance"): 1,
        ("select_best", "distance"): 2,
        ("train_chunk", "affinities"): 2,
        ("validate", "affinities"): 2,
        ("collect_scores", "affinities"): 1,
        ("select_best", "affinities"): 1,
        ("train_chunk", "finetune"): 1,
        ("validate", "finetune"): 1,
        ("collect_scores", "finetune"): 1,
        ("select_best", "finetune"): 1,
    }
)
CHECKPOINTS = {"distance": [2, 4], "affinities": [2, 3], "finetune": [2]}
UPSTREAM_BEST = f"{STORE}/distance/validate_0/mito__dice.pt"


def checkpoint(run, iteration):
    return f"{STORE}/{run}/checkpoints/iterations/{iteration}"


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """The dry run of the untouched tiny workflow (shared: reading it changes nothing)."""
    workdir = install_workflow(tmp_path_factory.mktemp("dag"))
    return dry_run(workdir).check()


def test_dry_run_plans_every_job_of_every_run(plan):
    assert plan.counts() == EXPECTED_JOBS, plan.describe()
    assert plan.count("all") == 1
    # the paper outputs: one sweep record, curve, results page and validation picture per
    # run (one validation dataset each), a leaderboard per selected (dataset, criterion),
    # one lineage
    assert plan.counts(exclude=("all",)) - EXPECTED_JOBS == Counter(
        {
            **{("sweep_metadata", run): 1 for run in CHECKPOINTS},
            **{("curves", run): 1 for run in CHECKPOINTS},
            **{("results", run): 1 for run in CHECKPOINTS},
            **{("validation_picture", run): 1 for run in CHECKPOINTS},
            ("leaderboard", None): 3,
            ("lineage", None): 1,
        }
    )


def test_checkpoints_are_every_interval_and_the_last_iteration(plan):
    for run, iterations in CHECKPOINTS.items():
        assert plan.iterations("train_chunk", run) == iterations
        assert plan.iterations("validate", run) == iterations


@pytest.mark.parametrize(
    "num_iterations, interval, expected",
    [(7, 3, [3, 6, 7]), (6, 3, [3, 6]), (2, 5, [2])],
)
def test_checkpoint_iterations_follow_the_config(
    fresh_workflow, num_iterations, interval, expected
):
    def edit(run):
        run.update(num_iterations=num_iterations, validation_interval=interval)

    edit_run_config(fresh_workflow, "affinities", edit)
    result = dry_run(fresh_workflow, f"{STORE}/affinities/validation_scores.nc").check()
    assert result.iterations("train_chunk", "affinities") == expected
    assert result.iterations("validate", "affinities") == expected
    collect = result.select("collect_scores", "affinities")[0]
    assert set(collect.input) >= {f"{STORE}/affinities/validation_scores/{i}.nc" for i in expected}


def test_every_chunk_starts_from_the_previous_checkpoint(plan):
    for run, iterations in CHECKPOINTS.items():
        chunks = sorted(plan.select("train_chunk", run), key=lambda job: job.iteration)
        for previous, chunk in zip([0, *iterations], chunks):
            assert checkpoint(run, chunk.iteration) in chunk.output
            own_checkpoints = [p for p in chunk.input if p.startswith(f"{STORE}/{run}/")]
            if previous:
                assert own_checkpoints == [checkpoint(run, previous)], chunk
                assert f"--previous {checkpoint(run, previous)}" in chunk.shell
            else:
                assert own_checkpoints == [], chunk
                assert "--previous" not in chunk.shell


def test_fresh_runs_start_from_nothing(plan):
    for run in ("distance", "affinities"):
        first = min(plan.select("train_chunk", run), key=lambda job: job.iteration)
        assert [p for p in first.input if p.startswith(STORE)] == [], first
        assert "--start" not in first.shell and "--previous" not in first.shell


def test_finetune_first_chunk_depends_on_the_upstream_winning_weights(plan):
    (first,) = plan.select("train_chunk", "finetune")
    assert UPSTREAM_BEST in first.input
    assert f"--start {UPSTREAM_BEST}" in first.shell
    # ... and that file is made by the upstream run's selection in the same DAG.
    producers = [
        job for job in plan.select("select_best", "distance") if UPSTREAM_BEST in job.output
    ]
    assert len(producers) == 1


def test_finetune_from_an_iteration_number_depends_on_that_checkpoint(fresh_workflow):
    def edit(run):
        run["start_config"] = {"run": "distance", "criterion": "4"}

    edit_run_config(fresh_workflow, "finetune", edit)
    result = dry_run(fresh_workflow).check()
    (first,) = result.select("train_chunk", "finetune")
    assert [p for p in first.input if p.startswith(STORE)] == [checkpoint("distance", 4)]
    assert f"--start {checkpoint('distance', 4)}" in first.shell


def test_validation_and_selection_read_the_right_files(plan):
    for run, iterations in CHECKPOINTS.items():
        for job in plan.select("validate", run):
            assert checkpoint(run, job.iteration) in job.input
            assert job.output == (f"{STORE}/{run}/validation_scores/{job.iteration}.nc",)
        (collect,) = plan.select("collect_scores", run)
        assert set(collect.input) == {
            *(f"{STORE}/{run}/validation_scores/{i}.nc" for i in iterations),
            *(f"{STORE}/{run}/training_stats/{i}.nc" for i in iterations),
        }
        for job in plan.select("select_best", run):
            assert job.input == (f"{STORE}/{run}/validation_scores.nc",)
            dataset, criterion = job.wildcards["dataset"], job.wildcards["criterion"]
            best = f"{STORE}/{run}/{dataset}/{criterion}"
            assert job.output == (f"{best}.json", f"{best}.pt")
            # every checkpoint is handed over, as a param: the winner is known only then
            for iteration in iterations:
                assert checkpoint(run, iteration) in job.shell


# --- configuration errors: reported at DAG build, before any job runs ----------------------


def assert_fails_before_any_job(workdir, *expected):
    """A real (not dry) run must fail while the DAG is built: clear message, no traceback,
    nothing written."""
    result = run_snakemake(workdir)
    assert result.returncode != 0, result.output
    for text in expected:
        assert text in result.output, f"{text!r} missing from:\n{result.output}"
    assert "Traceback (most recent call last)" not in result.output, result.output
    assert not (workdir / "results").exists()
    assert not (workdir / "data").exists()
    return result


def test_unknown_upstream_run_is_named_with_its_file_and_key(fresh_workflow):
    edit_run_config(fresh_workflow, "finetune", lambda run: run["start_config"].update(run="nope"))
    assert_fails_before_any_job(
        fresh_workflow, "config/runs/finetune.yaml", "start_config.run", "'nope'"
    )


def test_upstream_criterion_not_selected_is_named(fresh_workflow):
    edit_run_config(
        fresh_workflow, "finetune", lambda run: run["start_config"].update(criterion="er__dice")
    )
    assert_fails_before_any_job(
        fresh_workflow, "config/runs/finetune.yaml", "start_config.criterion", "er__dice"
    )


def test_start_config_cycle_is_reported(fresh_workflow):
    def start_from_finetune(run):
        run["start_config"] = {"run": "finetune", "criterion": "2"}

    edit_run_config(fresh_workflow, "distance", start_from_finetune)
    result = assert_fails_before_any_job(fresh_workflow, "cycle", "start_config")
    assert "distance" in result.output and "finetune" in result.output


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda run: run["trainer_config"].update(learning_rate=-1), "learning_rate"),
        (lambda run: run["trainer_config"].update(learnig_rate=0.1), "learnig_rate"),
        (lambda run: run["task_config"].update(thresholds=[0.5, 2.0]), "thresholds[1]"),
        (lambda run: run.update(select_criteria=["bogus"]), "select_criteria"),
    ],
    ids=["negative-learning-rate", "unknown-key", "threshold-out-of-range", "unknown-criterion"],
)
def test_bad_run_config_fails_before_any_job_naming_file_and_key(fresh_workflow, edit, key):
    edit_run_config(fresh_workflow, "affinities", edit)
    assert_fails_before_any_job(fresh_workflow, "config/runs/affinities.yaml", key)


def test_unknown_workflow_config_key_fails_before_any_job(fresh_workflow):
    config_file = fresh_workflow / "config" / "config.yaml"
    config_file.write_text(config_file.read_text() + "stroe: elsewhere\n")
    assert_fails_before_any_job(fresh_workflow, "stroe")


def test_a_key_given_twice_in_the_workflow_config_fails_before_any_job(fresh_workflow):
    # Snakemake's own loader would keep the second silently.
    config_file = fresh_workflow / "config" / "config.yaml"
    config_file.write_text(config_file.read_text() + "store: elsewhere\n")
    assert_fails_before_any_job(fresh_workflow, "config/config.yaml: store: given twice (lines")


def test_workflow_config_type_errors_are_plain_words_not_json_schema_text(fresh_workflow):
    config_file = fresh_workflow / "config" / "config.yaml"
    config_file.write_text(config_file.read_text().replace("store: results/store", "store: 5"))
    result = assert_fails_before_any_job(
        fresh_workflow, "config/config.yaml: store: expected a path (text), got 5"
    )
    assert "Failed validating" not in result.output and "schema[" not in result.output


# --- static checks of the workflow definition ----------------------------------------------


def test_snakemake_lint_is_clean(tmp_path):
    # A copy of the repo's workflow and config, so that linting writes nothing into the repo.
    for item in (*WORKFLOW_ITEMS, "config"):
        source = REPO_ROOT / item
        if source.is_dir():
            shutil.copytree(
                source, tmp_path / item, ignore=shutil.ignore_patterns("dacapo_flow*", "__py*")
            )
        elif source.exists():
            shutil.copy2(source, tmp_path / item)
    result = run_snakemake(tmp_path, "--lint")
    assert result.returncode == 0, result.output


def test_snakefmt_check_is_clean():
    snakefmt = shutil.which("snakefmt", path=snakemake_env()["PATH"])
    command = [snakefmt] if snakefmt else [sys.executable, "-m", "snakefmt"]
    result = subprocess.run(
        [*command, "--check", "--diff", "Snakefile", "workflow/rules"],
        cwd=REPO_ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
