import numpy as np
import pytest
import xarray as xr

from dacapo_flow.report.curves import (
    binned,
    curves_figure,
    ema,
    read_score_curves,
    read_training_series,
    render_curves,
    smoothing_span,
)
from dacapo_flow.stats.training_stats import TrainingIterationStats, TrainingStats
from dacapo_flow.stats.validation_scores import (
    RecordedCriteria,
    ValidationIterationScores,
    ValidationScores,
)
from dacapo_flow.store.atomic import atomic_write_json, atomic_write_netcdf
from dacapo_flow.store.best_record import BestRecord

STEPS = 60


@pytest.fixture
def stats_file(tmp_path):
    """Training stats without data wait and learning rate (as wave-1 stores hold them)."""
    rng = np.random.default_rng(0)
    stats = TrainingStats(
        TrainingIterationStats(i, float(1 / (i + 1) + rng.random() * 0.1), 0.01 + i * 1e-4)
        for i in range(STEPS)
    )
    stats.to_netcdf(tmp_path / "training_stats.nc")
    return tmp_path / "training_stats.nc"


@pytest.fixture
def full_stats_file(stats_file, tmp_path):
    """The same stats with per-step data wait and learning rate, as later writers add them."""
    old = TrainingStats.from_netcdf(stats_file).iteration_stats
    rates = np.linspace(1e-3, 1e-4, len(old))
    stats = TrainingStats(
        TrainingIterationStats(s.iteration, s.loss, s.time, 0.002, float(lr))
        for s, lr in zip(old, rates)
    )
    stats.to_netcdf(tmp_path / "full_stats.nc")
    return tmp_path / "full_stats.nc"


@pytest.fixture
def scores_file(tmp_path):
    criteria = RecordedCriteria(["mito__dice", "mito__voi"], [True, False])
    scores = ValidationScores([{"threshold": 0.0}, {"threshold": 0.2}], ["validate_0"], criteria)
    for iteration, dice, voi in ((20, 0.3, 2.0), (40, 0.6, 1.0), (60, 0.5, 1.5)):
        values = [[[dice, voi], [dice - 0.1, voi + 0.5]]]
        scores.add_iteration_scores(ValidationIterationScores(iteration, values))
    scores.to_netcdf(tmp_path / "validation_scores.nc")
    return tmp_path / "validation_scores.nc"


@pytest.fixture
def best_files(tmp_path):
    records = [
        ("mito__dice", 40, 0.6, True),
        ("mito__voi", 40, 1.0, False),
    ]
    return [
        atomic_write_json(
            tmp_path / "validate_0" / f"{criterion}.json",
            {
                "iteration": iteration,
                "parameters": {"threshold": 0.0},
                "score": score,
                "higher_is_better": higher,
                "dataset": "validate_0",
                "criterion": criterion,
            },
        )
        for criterion, iteration, score, higher in records
    ]


def test_ema_is_bias_corrected_and_skips_nan():
    assert np.allclose(ema(np.full(10, 3.0), 5), 3.0)  # no pull towards zero at the start
    smoothed = ema(np.array([1.0, np.nan, 1.0, 1.0]), 3)
    assert np.allclose(smoothed, 1.0)
    step = ema(np.r_[np.zeros(50), np.ones(50)], 9)
    assert step[49] == 0 and 0.9 < step[-1] <= 1 and np.all(np.diff(step) >= 0)
    assert (smoothing_span(10), smoothing_span(2000), smoothing_span(10**7)) == (1, 100, 1000)


def test_long_series_are_binned_to_mean_min_max():
    x = np.arange(10_000)
    bx, mean, low, high = binned(x, x.astype(float), max_points=100)
    assert len(bx) == 100 and bx[-1] == 9999 and low[0] == 0 and high[0] == 99
    assert mean[0] == pytest.approx(49.5)
    assert binned(x[:5], x[:5])[1] is not None and len(binned(x[:5], x[:5])[0]) == 5


def test_training_series_without_data_wait_and_lr(stats_file, full_stats_file):
    series = read_training_series(stats_file)
    assert series.steps[0] == 1 and series.steps[-1] == STEPS
    assert series.compute is not None and series.data_wait is None and series.lr is None
    full = read_training_series(full_stats_file)
    assert np.allclose(full.data_wait, 0.002) and full.lr[0] == pytest.approx(1e-3)


def test_score_curves_take_the_best_post_processing_per_checkpoint(scores_file, best_files):
    records = [BestRecord.read(p) for p in best_files]
    dice, voi = read_score_curves(scores_file, records)
    assert list(dice.iterations) == [20, 40, 60]
    assert np.allclose(dice.best_over_parameters, [0.3, 0.6, 0.5])
    assert np.allclose(voi.best_over_parameters, [2.0, 1.0, 1.5])  # lower is better
    assert dice.selected.iteration == 40 and not voi.higher_is_better
    assert len(read_score_curves(scores_file)) == 2  # all pairs without records


def test_a_figure_has_training_panels_and_one_panel_per_curve(
    full_stats_file, scores_file, best_files
):
    records = [BestRecord.read(p) for p in best_files]
    figure = curves_figure(
        read_training_series(full_stats_file), read_score_curves(scores_file, records), "run"
    )
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:3] == ["training loss", "learning rate", "seconds per step (EMA)"]
    assert titles[3:5] == ["mito__dice on validate_0", "mito__voi on validate_0"]
    legend = [t.get_text() for t in figure.axes[2].get_legend().get_texts()]
    assert legend[0].startswith("data wait: mean 0.002 s") and legend[1].startswith("compute")
    selected = [t.get_text() for t in figure.axes[3].get_legend().get_texts()]
    assert selected == ["selected: 40 (threshold=0.0)"]


def test_panels_without_information_become_a_line_of_text(stats_file, full_stats_file):
    series = read_training_series(full_stats_file)
    series.lr[:] = 1e-3
    figure = curves_figure(series, [], "run")
    titles = [ax.get_title() for ax in figure.axes if ax.axison]
    assert titles == ["training loss", "seconds per step (EMA)"]
    assert figure.get_suptitle() == "run\nlearning rate 0.001 (constant)"
    figure = curves_figure(read_training_series(stats_file), [], "")
    assert figure.get_suptitle() == "learning rate not recorded"


@pytest.mark.parametrize("stats", ["stats_file", "full_stats_file"])
def test_two_renders_are_byte_identical(request, stats, scores_file, best_files, tmp_path):
    stats_path = request.getfixturevalue(stats)
    outputs = []
    for attempt in ("a", "b"):
        png, svg = tmp_path / attempt / "c.png", tmp_path / attempt / "c.svg"
        render_curves(stats_path, scores_file, best_files, png, svg, title="tiny")
        outputs.append((png.read_bytes(), svg.read_bytes()))
    assert outputs[0] == outputs[1]
    png_bytes, svg_bytes = outputs[0]
    assert png_bytes.startswith(b"\x89PNG") and b"<svg" in svg_bytes
    assert b"<dc:date>" not in svg_bytes


def test_a_run_without_validation_gets_training_panels_only(stats_file, tmp_path):
    empty = xr.DataArray(
        np.zeros((0, 0, 0, 0)), dims=("iterations", "datasets", "parameters", "criteria")
    )
    scores = atomic_write_netcdf(empty, tmp_path / "empty_scores.nc")
    assert read_score_curves(scores) == []
    (png,) = render_curves(stats_file, scores, png=tmp_path / "c.png")
    assert png.stat().st_size > 0
