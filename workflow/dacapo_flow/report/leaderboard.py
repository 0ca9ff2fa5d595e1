"""Leaderboard of one (validation dataset, criterion): one row per grid point (DESIGN §9).

Each row aggregates the repetitions of one group (base name + grid point): mean, sample sd
(ddof=1, blank for n < 2) and n of the selected scores, with every repetition's selected
iteration and post-processing parameters. n counts repetitions with a valid selected score
and is always printed next to the number planned, so unfinished sweeps are visible.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.sweeps import aliases
from ..stats.validation_scores import parameter_label
from ..store.atomic import atomic_write
from ..store.best_record import BestRecord


@dataclass(frozen=True)
class Repetition:
    run: str
    repetition: int
    iteration: int | None
    parameters: Any
    score: float | None  # None: no checkpoint had a valid score
    grid_edges: tuple[str, ...] = ()  # parameters selected at the edge of their grid


@dataclass(frozen=True)
class Row:
    group: str
    base_name: str
    grid: dict
    repetitions: tuple[Repetition, ...]  # sorted by repetition
    expected: int
    higher_is_better: bool

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.repetitions if r.score is not None]

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return math.fsum(self.scores) / self.n if self.n else math.nan

    @property
    def sd(self) -> float:
        """Sample standard deviation (ddof=1); NaN for fewer than two scores."""
        if self.n < 2:
            return math.nan
        mean = self.mean
        return math.sqrt(math.fsum((s - mean) ** 2 for s in self.scores) / (self.n - 1))


def read_best(path: str | os.PathLike, dataset: str | None = None, criterion: str | None = None):
    """A best record, checked: the dataset and criterion expected."""
    return BestRecord.read(path, dataset, criterion)


def leaderboard(
    entries: Iterable[tuple[dict, BestRecord]], where: str = "leaderboard"
) -> list[Row]:
    """Rows from (sweep metadata, best record) pairs of one (dataset, criterion), best first.

    Rows without any valid score come last; ties are broken by group name, so the order is
    stable. A criterion must have one direction, and a repetition must appear once."""
    groups: dict[str, list[tuple[dict, BestRecord]]] = {}
    for metadata, record in entries:
        groups.setdefault(metadata["group"], []).append((metadata, record))
    directions = {
        record.higher_is_better
        for members in groups.values()
        for _, record in members
        if record.higher_is_better is not None
    }
    if len(directions) > 1:
        raise ValueError(f"{where}: the best records disagree on whether higher is better")
    higher = directions.pop() if directions else True
    rows = [_row(group, members, higher, where) for group, members in groups.items()]
    return sorted(rows, key=lambda row: _rank_key(row, higher))


def _row(group: str, members: list[tuple[dict, BestRecord]], higher: bool, where: str) -> Row:
    first = members[0][0]
    repetitions, seen = [], {}
    for metadata, record in members:
        if metadata["grid"] != first["grid"] or metadata["base_name"] != first["base_name"]:
            raise ValueError(f"{where}: group {group!r} has runs of different grid points")
        repetition = int(metadata["repetition"])
        if repetition in seen:
            raise ValueError(
                f"{where}: group {group!r}: runs {seen[repetition]!r} and {metadata['run']!r} "
                f"are both repetition {repetition}"
            )
        seen[repetition] = metadata["run"]
        score = record.score
        valid = score is not None and math.isfinite(score) and record.iteration is not None
        repetitions.append(
            Repetition(
                metadata["run"],
                repetition,
                record.iteration,
                record.parameters,
                float(score) if valid else None,
                tuple(sorted(record.grid_edges)),
            )
        )
    planned = [m.get("repetitions") or 1 for m, _ in members]
    return Row(
        group,
        first["base_name"],
        dict(first["grid"]),
        tuple(sorted(repetitions, key=lambda r: r.repetition)),
        max(planned),
        higher,
    )


def _rank_key(row: Row, higher: bool):
    if not row.n:
        return (1, 0.0, row.group)
    return (0, -row.mean if higher else row.mean, row.group)


# --- formatting ---------------------------------------------------------------------------


def grid_keys(rows: list[Row]) -> list[str]:
    return sorted({key for row in rows for key in row.grid})


def _num(value: float | None, spec: str = ".4g") -> str:
    return "" if value is None or not math.isfinite(value) else format(value, spec)


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _per_repetition(row: Row, what: str) -> str:
    parts = []
    for rep in row.repetitions:
        if rep.score is None:
            parts.append(f"rep{rep.repetition}: none")
        elif what == "iteration":
            parts.append(f"rep{rep.repetition}: {rep.iteration}")
        elif what == "parameters":
            edge = f" (edge of grid: {', '.join(rep.grid_edges)})" if rep.grid_edges else ""
            parts.append(f"rep{rep.repetition}: {parameter_label(rep.parameters)}{edge}")
        else:
            parts.append(f"rep{rep.repetition}: {rep.score:.6g}")
    return "; ".join(parts)


def table(rows: list[Row], full: bool = True) -> tuple[list[str], list[list[str]]]:
    """(header, cells) of the leaderboard; `full` adds run names and per-repetition scores
    and prints numbers at full precision (CSV), otherwise 4 significant digits."""
    keys = grid_keys(rows)
    short = aliases(keys)
    header = ["rank", "group", "base_name", *(keys if full else [short[k] for k in keys])]
    header += ["mean", "sd", "n", "expected", "direction", "iterations", "parameters"]
    if full:
        header += ["scores", "runs"]
    spec = ".10g" if full else ".4g"
    cells = []
    for rank, row in enumerate(rows, 1):
        line = [str(rank), row.group, row.base_name]
        line += [_value(row.grid[k]) if k in row.grid else "" for k in keys]
        line += [_num(row.mean, spec), _num(row.sd, spec), str(row.n), str(row.expected)]
        line += ["higher" if row.higher_is_better else "lower"]
        line += [_per_repetition(row, "iteration"), _per_repetition(row, "parameters")]
        if full:
            line += [_per_repetition(row, "score"), ";".join(r.run for r in row.repetitions)]
        cells.append(line)
    return header, cells


def caption(dataset: str, criterion: str, rows: list[Row]) -> str:
    direction = "higher" if (rows[0].higher_is_better if rows else True) else "lower"
    incomplete = sum(row.n < row.expected for row in rows)
    text = (
        f"{criterion} on {dataset} ({direction} is better): mean and sample sd (ddof=1) over "
        "repetitions of the selected checkpoint's score; n of expected repetitions."
    )
    if incomplete:
        text += f" {incomplete} of {len(rows)} rows have fewer repetitions than planned."
    if any(rep.grid_edges for row in rows for rep in row.repetitions):
        text += (
            " Parameters marked 'edge of grid' were selected at the end of their "
            "post-processing grid: extend the grid."
        )
    return text


def to_csv(rows: list[Row]) -> str:
    header, cells = table(rows, full=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells)
    return out.getvalue()


def to_markdown(rows: list[Row], dataset: str, criterion: str) -> str:
    header, cells = table(rows, full=False)

    def line(items):
        return "| " + " | ".join(str(i).replace("|", "\\|") for i in items) + " |"

    lines = [line(header), "|" + "---|" * len(header)]
    lines += [line(c) for c in cells]
    return f"{caption(dataset, criterion, rows)}\n\n" + "\n".join(lines) + "\n"


_LATEX = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}"}
_LATEX["\\"] = r"\textbackslash{}"


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(c, c) for c in str(text))


def to_latex(rows: list[Row], dataset: str, criterion: str) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    header, cells = table(rows, full=False)
    body = [" & ".join(latex_escape(c) for c in line) + r" \\" for line in cells]
    return "\n".join(
        [
            r"\begin{table}",
            r"\centering",
            rf"\caption{{{latex_escape(caption(dataset, criterion, rows))}}}",
            r"\begin{tabular}{" + "l" * len(header) + "}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in header) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def download_links(files: dict[str, str]) -> str:
    """Links that download `files` (name -> text) from the page itself: the report is one
    self-contained HTML file, so the CSV and TeX travel inside the table's page."""
    links = []
    for name, text in files.items():
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        kind = "text/csv" if name.endswith(".csv") else "text/plain"
        links.append(
            f'<a download="{html.escape(name)}" href="data:{kind};charset=utf-8;base64,{data}">'
            f"{html.escape(name)}</a>"
        )
    return f"<p>Download: {' · '.join(links)}</p>\n" if links else ""


def to_html(rows: list[Row], dataset: str, criterion: str, downloads=None) -> str:
    """A standalone HTML page (how `snakemake --report` shows a table), with links that
    download `downloads` (file name -> text: the CSV and TeX versions)."""
    header, cells = table(rows, full=False)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>\n" for line in cells
    )
    title = html.escape(f"{criterion} on {dataset}")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        "<style>table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}</style></head><body>\n"
        f"<p>{html.escape(caption(dataset, criterion, rows))}</p>\n"
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody>'
        "</table>\n"
        f"{download_links(downloads or {})}</body></html>\n"
    )


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def write_leaderboard(
    rows: list[Row],
    dataset: str,
    criterion: str,
    csv_out=None,
    md_out=None,
    tex_out=None,
    html_out=None,
) -> list[Path]:
    """Write the formats asked for (each atomically); returns the paths written."""
    downloads = {f"{dataset}_{criterion}.csv": to_csv(rows)}
    downloads[f"{dataset}_{criterion}.tex"] = to_latex(rows, dataset, criterion)
    writers = (
        (csv_out, lambda: to_csv(rows)),
        (md_out, lambda: to_markdown(rows, dataset, criterion)),
        (tex_out, lambda: to_latex(rows, dataset, criterion)),
        (html_out, lambda: to_html(rows, dataset, criterion, downloads)),
    )
    return [write_text(path, render()) for path, render in writers if path is not None]
