"""Per-run curves (DESIGN §9): training loss (raw and smoothed), learning rate, seconds per
step split into data wait and compute, and validation scores per (dataset, criterion) with
the selected checkpoint marked.

Training stats are read by variable name, as coordinates or data variables along
"iterations": `loss`, `time` (compute seconds of the step), and, when recorded, `data_wait`
(seconds waiting for the step's batch) and `lr` (learning rate of the step). Renders are
byte-identical across reruns: no pyplot state, fixed SVG hash salt, no dates in metadata.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.signal import lfilter

from ..stats.training_stats import TrainingStats
from ..stats.validation_scores import ValidationScores
from ..store.atomic import atomic_write
from ..store.best_record import BestRecord

# Stable output: the SVG ids are hashes salted with this, text is drawn as paths.
RC = {"svg.hashsalt": "dacapo-flow", "svg.fonttype": "path", "font.size": 9}
METADATA = {"svg": {"Date": None}, "png": {"Software": None}}
MAX_POINTS = 2000  # per plotted line; longer series are binned (mean line, min-max band)


@dataclass
class TrainingSeries:
    steps: np.ndarray  # optimizer steps done after each step (iteration + 1)
    loss: np.ndarray
    compute: np.ndarray | None = None
    data_wait: np.ndarray | None = None
    lr: np.ndarray | None = None


@dataclass
class ScoreCurve:
    dataset: str
    criterion: str
    higher_is_better: bool
    iterations: np.ndarray
    best_over_parameters: np.ndarray  # the best post-processing per checkpoint
    selected: BestRecord | None = field(default=None)  # the best record of this pair, if given


def read_training_series(path: str | os.PathLike) -> TrainingSeries:
    """The per-step series of a training stats file (read by `TrainingStats`, the one reader
    of the format); a variable never recorded (all NaN) is None."""
    stats = TrainingStats.from_netcdf(path).iteration_stats
    if not stats:
        raise ValueError(f"training stats {os.fspath(path)} hold no steps")

    def get(name):
        values = np.array([getattr(s, name) for s in stats], dtype=float)
        return None if np.isnan(values).all() else values

    return TrainingSeries(
        steps=np.array([s.iteration for s in stats], dtype=np.int64) + 1,
        loss=get("loss"),
        compute=get("time"),
        data_wait=get("data_wait"),
        lr=get("learning_rate"),
    )


def read_score_curves(path: str | os.PathLike, records: list[BestRecord] = ()) -> list[ScoreCurve]:
    """Best-over-parameters score per checkpoint for each (dataset, criterion) that has a
    best record in `records`, or for every pair when no records are given."""
    data = xr.load_dataarray(path, engine="h5netcdf")
    if 0 in data.shape and "higher_is_better" not in data.coords:
        return []  # a run without validation datasets
    scores = ValidationScores.from_xarray(data)
    _, best = scores.get_best(scores.to_xarray(), "parameters")
    chosen = {(r.dataset, r.criterion): r for r in records}
    pairs = list(chosen) or [(d, c) for d in scores.dataset_names for c in scores.criteria]
    curves = []
    for dataset, criterion in pairs:
        if dataset not in scores.dataset_names or criterion not in scores.criteria:
            raise ValueError(f"validation scores {os.fspath(path)} lack {dataset}/{criterion}")
        values = best.sel(datasets=dataset, criteria=criterion)
        curves.append(
            ScoreCurve(
                dataset,
                criterion,
                scores.higher_is_better(criterion),
                np.asarray(values["iterations"].values, dtype=np.int64),
                np.asarray(values.values, dtype=float),
                chosen.get((dataset, criterion)),
            )
        )
    return curves


def smoothing_span(n: int) -> int:
    """EMA span for n steps: 5% of the run, between 1 and 1000 steps."""
    return int(min(1000, max(1, n // 20)))


def ema(values: np.ndarray, span: int) -> np.ndarray:
    """Bias-corrected exponential moving average (alpha = 2 / (span + 1)); NaNs are skipped,
    so a NaN step neither poisons the rest nor pulls the curve to zero."""
    values = np.asarray(values, dtype=float)
    alpha = 2.0 / (span + 1.0)
    valid = np.isfinite(values)
    coefficients = ([alpha], [1.0, alpha - 1.0])
    total = lfilter(*coefficients, np.where(valid, values, 0.0))
    weight = lfilter(*coefficients, valid.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def binned(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS):
    """(x, mean, min, max) in at most `max_points` bins; unchanged when short enough."""
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    if len(y) <= max_points:
        return x, y, y, y
    edges = np.linspace(0, len(y), max_points + 1).astype(int)
    parts = [slice(a, b) for a, b in pairwise(edges)]
    with warnings.catch_warnings():  # all-NaN bins are fine: they give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            np.array([x[p][-1] for p in parts]),
            np.array([np.nanmean(y[p]) for p in parts]),
            np.array([np.nanmin(y[p]) for p in parts]),
            np.array([np.nanmax(y[p]) for p in parts]),
        )


def _absent(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="0.3",
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9},
    )


def _plot_loss(ax, series: TrainingSeries) -> None:
    x, mean, low, high = binned(series.steps, series.loss)
    if len(x) < len(series.steps):
        ax.fill_between(x, low, high, color="C0", alpha=0.2, lw=0, label="min-max per bin")
    ax.plot(x, mean, color="C0", lw=0.6, alpha=0.6, label="raw")
    span = smoothing_span(len(series.loss))
    sx, smooth, _, _ = binned(series.steps, ema(series.loss, span))
    ax.plot(sx, smooth, color="C1", lw=1.5, label=f"EMA (span {span})")
    finite = series.loss[np.isfinite(series.loss)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set(title="training loss", xlabel="optimizer steps")
    ax.legend(loc="upper right")


def _plot_lr(ax, series: TrainingSeries) -> None:
    ax.set(title="learning rate", xlabel="optimizer steps")
    x, lr, _, _ = binned(series.steps, series.lr)
    ax.plot(x, lr, color="C2", lw=1.2)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))


def constant(values: np.ndarray) -> float | None:
    """The value of a series that never changes (NaNs aside), else None."""
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == finite[0]):
        return float(finite[0])
    return None


def training_panels(series: TrainingSeries) -> tuple[list, list[str]]:
    """The training panels that carry information, and one line of text for each that
    does not (a constant learning rate, a series never recorded)."""
    panels, notes = [_plot_loss], []
    rate = None if series.lr is None else constant(series.lr)
    if series.lr is None:
        notes.append("learning rate not recorded")
    elif rate is not None:
        notes.append(f"learning rate {rate:.3g} (constant)")
    else:
        panels.append(_plot_lr)
    if series.compute is None:
        notes.append("step times not recorded")
    else:
        panels.append(_plot_step_time)
    return panels, notes


def _plot_step_time(ax, series: TrainingSeries) -> None:
    ax.set(title="seconds per step (EMA)", xlabel="optimizer steps")
    if series.compute is None:
        _absent(ax, "step times not recorded")
        return
    span = smoothing_span(len(series.steps))
    parts = [("compute", series.compute, "C0")]
    if series.data_wait is not None:
        parts.insert(0, ("data wait", series.data_wait, "C3"))
    total = sum(float(np.nansum(values)) for _, values, _ in parts) or 1.0
    x = binned(series.steps, series.compute)[0]
    stacked = [binned(series.steps, ema(values, span))[1] for _, values, _ in parts]
    labels = [
        f"{name}: mean {np.nanmean(values):.3g} s ({100 * np.nansum(values) / total:.0f}%)"
        for name, values, _ in parts
    ]
    ax.stackplot(x, *stacked, labels=labels, colors=[c for *_, c in parts], alpha=0.8)
    if series.data_wait is None:
        _absent(ax, "data wait not recorded")
    ax.legend(loc="upper right")


def _plot_scores(ax, curve: ScoreCurve) -> None:
    direction = "higher" if curve.higher_is_better else "lower"
    ax.set(title=f"{curve.criterion} on {curve.dataset}", xlabel="checkpoint (steps)")
    ax.set_ylabel(f"best over post-processing ({direction} is better)")
    ax.plot(curve.iterations, curve.best_over_parameters, "o-", color="C0", ms=3, lw=1.2)
    record = curve.selected
    if record and record.iteration is not None and record.score is not None:
        label = f"selected: {record.iteration}"
        if record.parameters is not None:
            label += f" ({record.label})"
        ax.plot([record.iteration], [record.score], "*", color="C3", ms=12, label=label)
        ax.axvline(record.iteration, color="C3", lw=0.8, ls="--")
        ax.legend(loc="best")
    elif record:
        _absent(ax, "no checkpoint selected (no valid score)")


def curves_figure(series: TrainingSeries, curves: list[ScoreCurve], title: str = "") -> Figure:
    """One figure: the informative training panels in the first row (what is constant or
    missing as a line of text under the title), one panel per score curve below."""
    columns = 3
    rows = 1 + math.ceil(len(curves) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.3 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    panels, notes = training_panels(series)
    for ax, plot in zip(axes[0], panels):
        plot(ax, series)
    for ax in axes[0][len(panels) :]:
        ax.set_axis_off()
    for ax in axes.flat:  # steps and checkpoints are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    flat = [ax for row in axes[1:] for ax in row]
    for ax, curve in zip(flat, curves):
        _plot_scores(ax, curve)
    for ax in flat[len(curves) :]:
        ax.set_axis_off()
    heading = "\n".join(filter(None, [title, "; ".join(notes)]))
    if heading:
        figure.suptitle(heading)
    return figure


def save_figure(figure: Figure, png=None, svg=None, dpi: int = 100) -> list[Path]:
    """Write the figure as PNG and/or SVG, atomically and reproducibly."""
    written = []
    with rc_context(RC):
        for path, kind in ((png, "png"), (svg, "svg")):
            if path is None:
                continue
            written.append(
                atomic_write(
                    path,
                    lambda file, kind=kind: figure.savefig(
                        file, format=kind, dpi=dpi, metadata=METADATA[kind]
                    ),
                )
            )
    return written


def render_curves(stats, scores=None, best=(), png=None, svg=None, title="") -> list[Path]:
    """Read a run's stats, scores and best JSONs (paths) and write its curves figure."""
    records = [BestRecord.read(p) for p in best]
    curves = read_score_curves(scores, records) if scores is not None else []
    with rc_context(RC):
        figure = curves_figure(read_training_series(stats), curves, title)
    return save_figure(figure, png, svg)
