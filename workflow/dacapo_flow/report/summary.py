"""What the workflow prints when it succeeds (the Snakefile's `onsuccess:`): each run's
selected checkpoint and score per (dataset, criterion), and where the report and the
predictions are. Reads best JSONs only: cheap, and no torch."""

from __future__ import annotations

from pathlib import Path

from ..layout import Layout

HEADER = ("run", "dataset", "criterion", "iteration", "score", "parameters")


def selected_rows(layout: Layout, plan: dict) -> list[tuple[str, ...]]:
    """One row per best JSON on disk; pairs not selected (yet) are left out."""
    from ..store.best_record import BestRecord
    from .targets import selected_pairs

    rows = []
    for name in sorted(plan):
        for dataset, criterion in selected_pairs(plan[name]):
            path = Path(layout.best_record(name, dataset, criterion))
            try:
                best = BestRecord.read(path)
            except (OSError, ValueError):
                continue
            rows.append(
                (
                    name,
                    dataset,
                    criterion,
                    "-" if best.iteration is None else str(best.iteration),
                    "-" if best.score is None else f"{best.score:.4g}",
                    "-" if not best.parameters else best.label,
                )
            )
    return rows


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows under HEADER, columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [HEADER, *rows]]


def summary(layout: Layout, plan: dict, predictions=()) -> str:
    rows = selected_rows(layout, plan)
    lines = ["", "dacapo-flow: selected checkpoints"]
    lines += [f"  {line}" for line in table(rows)] if rows else ["  (none selected yet)"]
    lines.append(
        f"report: {layout.report_dir()}/ (the HTML report: snakemake --report report.html)"
    )
    for target in sorted(predictions):
        zarr = layout.prediction(target).zarr
        lines.append(f"prediction {target}: {zarr} (dacapo-flow view {target})")
    return "\n".join(lines)


def print_summary(layout: Layout, plan: dict, predictions=()) -> None:
    print(summary(layout, plan, predictions), flush=True)
