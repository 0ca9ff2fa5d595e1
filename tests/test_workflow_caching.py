"""Cached stages (DESIGN §5): after a complete real run, edit a copy of one run config and
dry-run; exactly the stages the edited fields affect are planned again, per rule and run.

The finetune run starts from distance's best mito__dice JSON, so whatever may rewrite that
JSON (distance's training, validation or new checkpoints) plans the whole finetune run again:
the DAG is static, and a new best iteration would change the finetune's start."""

from collections import Counter

import pytest

from workflow_support import STORE, dry_run, edit_run_config, run_config_path

pytestmark = pytest.mark.workflow

# Every job of each tiny run (see tests/data/tiny/runs).
RUN_JOBS = {
    "distance": {"train_chunk": 2, "validate": 2, "collect_scores": 1, "select_best": 2},
    "affinities": {"train_chunk": 2, "validate": 2, "collect_scores": 1, "select_best": 1},
    "finetune": {"train_chunk": 1, "validate": 1, "collect_scores": 1, "select_best": 1},
}


def jobs(run, **counts):
    """Counter of (rule, run) -> count; with no counts, every job of the run."""
    return Counter({(rule, run): n for rule, n in (counts or RUN_JOBS[run]).items() if n})


def replan(workdir, run, edit):
    """Edit run config `run` in `workdir`, then dry-run the whole workflow."""
    edit_run_config(workdir, run, edit)
    return dry_run(workdir).check()


def assert_nothing_to_do(result):
    assert result.jobs == [], result.describe()
    assert "Nothing to be done" in result.output, result.output


def test_complete_run_leaves_nothing_to_do(completed_copy):
    assert_nothing_to_do(dry_run(completed_copy).check())


RETRAIN = {
    "distance-learning-rate": (
        "distance",
        lambda run: run["trainer_config"].update(learning_rate=0.002),
    ),
    "distance-task-target": ("distance", lambda run: run["task_config"].update(scale_factor=30.0)),
    "affinities-architecture": (
        "affinities",
        lambda run: run["architecture_config"].update(num_fmaps=3),
    ),
    "affinities-augmentation": (
        "affinities",
        lambda run: run["trainer_config"].update(augments=[{"type": "mirror", "p": 0.5}]),
    ),
    "affinities-data": (
        "affinities",
        lambda run: run["datasplit_config"]["train_configs"][0].update(weight=2.0),
    ),
}


@pytest.mark.parametrize("case", list(RETRAIN))
def test_training_change_reruns_the_whole_run_and_its_finetunes(completed_copy, case):
    run, edit = RETRAIN[case]
    result = replan(completed_copy, run, edit)
    expected = jobs(run) + (jobs("finetune") if run == "distance" else Counter())
    assert result.counts() == expected, result.describe()
    first = min(result.select("train_chunk", run), key=lambda job: job.iteration)
    assert "Params have changed" in first.reason, first.reason


def test_raised_num_iterations_adds_only_the_new_chunks(completed_copy):
    result = replan(completed_copy, "affinities", lambda run: run.update(num_iterations=5))
    # Checkpoints were 2, 3; now 2, 4, 5: chunk 2->4 continues from the existing checkpoint 2.
    expected = jobs("affinities", train_chunk=2, validate=2, collect_scores=1, select_best=1)
    assert result.counts() == expected, result.describe()
    assert result.iterations("train_chunk", "affinities") == [4, 5]
    assert result.iterations("validate", "affinities") == [4, 5]
    chunk_4 = next(j for j in result.select("train_chunk", "affinities") if j.iteration == 4)
    assert f"--previous {STORE}/affinities/checkpoints/iterations/2" in chunk_4.shell


def test_raised_num_iterations_of_an_upstream_run_replans_its_finetune(completed_copy):
    result = replan(completed_copy, "distance", lambda run: run.update(num_iterations=6))
    expected = jobs("distance", train_chunk=1, validate=1, collect_scores=1, select_best=2)
    assert result.counts() == expected + jobs("finetune"), result.describe()
    assert result.iterations("train_chunk", "distance") == [6]


def test_new_validation_interval_retrains_the_run(completed_copy):
    # Checkpoints were 2, 3; now only 3, trained from the start: no cached chunk fits.
    result = replan(completed_copy, "affinities", lambda run: run.update(validation_interval=3))
    expected = jobs("affinities", train_chunk=1, validate=1, collect_scores=1, select_best=1)
    assert result.counts() == expected, result.describe()
    (chunk,) = result.select("train_chunk", "affinities")
    assert chunk.iteration == 3 and "--previous" not in chunk.shell


def test_new_name_trains_a_new_run(completed_copy):
    result = replan(completed_copy, "affinities", lambda run: run.update(name="affinities2"))
    assert result.counts() == jobs("affinities2", **RUN_JOBS["affinities"]), result.describe()


VALIDATION = {
    "affinities-thresholds": (
        "affinities",
        lambda run: run["task_config"].update(thresholds=[0.5, 0.7]),
    ),
    "distance-evaluation-tolerance": (
        "distance",
        lambda run: run["task_config"].update(tol_distance=80.0),
    ),
    "affinities-eval-shape": (
        "affinities",
        lambda run: run["architecture_config"].update(eval_shape_increase=[16, 16, 16]),
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION))
def test_post_processing_change_reruns_validation_and_selection_only(completed_copy, case):
    run, edit = VALIDATION[case]
    result = replan(completed_copy, run, edit)
    expected = jobs(run, validate=RUN_JOBS[run]["validate"], collect_scores=1)
    expected += jobs(run, select_best=RUN_JOBS[run]["select_best"])
    if run == "distance":
        expected += jobs("finetune")
    assert result.counts() == expected, result.describe()
    assert result.count("train_chunk", run) == 0
    assert all("Params have changed" in job.reason for job in result.select("validate", run))


def test_added_criterion_reruns_only_its_selection(completed_copy):
    result = replan(
        completed_copy, "distance", lambda run: run["select_criteria"].append("er__dice")
    )
    assert result.counts() == jobs("distance", select_best=1), result.describe()
    (job,) = result.select("select_best", "distance")
    assert job.wildcards["criterion"] == "er__dice"


def test_removed_criterion_reruns_only_the_runs_curves_and_results(completed_copy):
    result = replan(completed_copy, "distance", lambda run: run["select_criteria"].pop())
    # nothing is trained, validated or selected; the curves stop marking the dropped one and
    # the results page stops listing it (the validation picture shows the first criterion)
    assert result.counts(exclude=("all",)) == Counter(
        {("curves", "distance"): 1, ("results", "distance"): 1}
    )


def append_comment(workdir, run):
    path = run_config_path(workdir, run)
    path.write_text(path.read_text() + "# a note for the humans reading this config\n")


NOTHING = {
    "description": lambda workdir: edit_run_config(
        workdir, "distance", lambda run: run.update(description="an edited description")
    ),
    "comment": lambda workdir: append_comment(workdir, "distance"),
    "data-fetchers": lambda workdir: edit_run_config(
        workdir, "distance", lambda run: run["trainer_config"].update(num_data_fetchers=2)
    ),
}


@pytest.mark.parametrize("case", list(NOTHING))
def test_edits_that_change_no_output_rerun_nothing(completed_copy, case):
    NOTHING[case](completed_copy)
    assert_nothing_to_do(dry_run(completed_copy).check())
