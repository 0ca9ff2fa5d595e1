"""A run's results page, the report's first section: for each (validation dataset, criterion)
it selects, the selected checkpoint, post-processing parameters and score, under the run's
grid point, repetition and start. Reads the best JSONs and sweep.json only (no torch)."""

from __future__ import annotations

import html
import os

from ..config.sweeps import read_sweep_metadata
from ..store.best_record import BestRecord
from .leaderboard import read_best, write_text

# Scoped to the table: the report's landing page embeds this page as it is.
STYLE = (
    "table.results{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
    ".results td,.results th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    ".results td.score{font-weight:bold;text-align:right}"
)


def result_rows(records: list[BestRecord]) -> list[list[str]]:
    rows = []
    for record in records:
        selected = record.iteration is not None and record.score is not None
        edges = f" (edge of grid: {', '.join(record.grid_edges)})" if record.grid_edges else ""
        rows.append(
            [
                record.dataset,
                record.criterion,
                record.direction,
                str(record.iteration) if selected else "none (no valid score)",
                record.label + edges if selected and record.parameters is not None else "-",
                f"{record.score:.4g}" if selected else "-",
            ]
        )
    return rows


def results_html(run: str, sweep: dict, records: list[BestRecord]) -> str:
    header = ["dataset", "criterion", "better", "checkpoint", "parameters", "score"]
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in row[:-1])
        + f'<td class="score">{html.escape(row[-1])}</td></tr>\n'
        for row in result_rows(records)
    )
    grid = ", ".join(f"{k}={v}" for k, v in sorted(sweep.get("grid", {}).items())) or "none"
    facts = [f"group {sweep.get('group', run)}", f"grid point: {grid}"]
    facts.append(f"repetition {sweep.get('repetition', 0)}")
    start = sweep.get("start")
    if start:
        facts.append("started from " + ", ".join(f"{k} {v}" for k, v in start.items() if v))
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(run)}</title>'
        f"<style>{STYLE}</style></head><body>\n"
        f"<h3>{html.escape(run)}</h3>\n<p>{html.escape('; '.join(facts))}</p>\n"
        f'<table class="results"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n'
        "<p>The selected checkpoint and post-processing of each (validation dataset, criterion)"
        " and its score there; pictures of each dataset are under Validation.</p>\n"
        "</body></html>\n"
    )


def write_results(run: str, sweep_path, best_paths, out: str | os.PathLike):
    records = [read_best(path) for path in best_paths]
    return write_text(out, results_html(run, read_sweep_metadata(sweep_path), records))
