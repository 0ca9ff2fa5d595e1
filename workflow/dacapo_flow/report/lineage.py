"""Lineage of finetunes (DESIGN §9): which run started from which run's best checkpoint for
which criterion, as a tree drawing (SVG/PNG with matplotlib, no graphviz) and a listing.

Each run starts from at most one upstream run, so the lineage is a forest. It is drawn as an
indented tree, one run per row, with what each run started from in a column on the right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from matplotlib import rc_context
from matplotlib.figure import Figure

from ..store.atomic import atomic_write_json
from ..store.best_record import BestRecord
from .curves import RC, save_figure
from .leaderboard import write_text


@dataclass(frozen=True)
class Node:
    run: str
    depth: int
    root: str
    upstream: str | None = None
    criterion: str | None = None  # a criterion, or a checkpoint iteration as digits
    dataset: str | None = None
    iteration: int | None = None  # the upstream checkpoint used, when its best JSON is known
    score: float | None = None
    in_report: bool = True  # False: an upstream run that was not among the inputs
    external: str | None = None  # a start outside the workflow (DaCapo run, checkpoint file)

    def origin(self) -> str:
        """`best mito__dice on validate_0 of distance (iteration 300, score 0.61)`."""
        if self.external is not None:
            return self.external
        if self.upstream is None:
            return ""
        if self.criterion is not None and self.criterion.isdigit():
            return f"checkpoint {self.criterion} of {self.upstream}"
        text = f"best {self.criterion}"
        if self.dataset:
            text += f" on {self.dataset}"
        text += f" of {self.upstream}"
        details = []
        if self.iteration is not None:
            details.append(f"iteration {self.iteration}")
        if self.score is not None:
            details.append(f"score {self.score:.4g}")
        return text + (f" ({', '.join(details)})" if details else "")


def lineage(metadata: list[dict], start_records: dict[str, BestRecord] | None = None) -> list[Node]:
    """Nodes in tree order (roots and children sorted by name) from sweep metadata dicts
    (`run`, `start`: {run, criterion, dataset}, {external: text} or None; an external start
    is a root). `start_records` maps a downstream run to the best JSON of its upstream, for
    the iteration and score it started from."""
    start_records = start_records or {}
    starts = {m["run"]: m.get("start") for m in metadata}
    if len(starts) != len(metadata):
        raise ValueError("lineage: a run appears twice among the metadata files")
    upstream = {run: (start or {}).get("run") for run, start in starts.items()}
    missing = sorted({u for u in upstream.values() if u is not None and u not in starts})
    for run in missing:  # shown, but marked as not among the inputs
        starts[run], upstream[run] = None, None
    children: dict[str | None, list[str]] = {}
    for run in sorted(starts):
        children.setdefault(upstream[run], []).append(run)
    nodes: list[Node] = []

    def visit(run: str, depth: int, root: str) -> None:
        start = starts[run] or {}
        record = start_records.get(run)
        nodes.append(
            Node(
                run,
                depth,
                root,
                start.get("run"),
                None if start.get("criterion") is None else str(start["criterion"]),
                start.get("dataset"),
                None if record is None else record.iteration,
                None if record is None else record.score,
                run not in missing,
                start.get("external"),
            )
        )
        for child in children.get(run, []):
            visit(child, depth + 1, root)

    for root in children.get(None, []):
        visit(root, 0, root)
    if len(nodes) != len(starts):
        cyclic = sorted(set(starts) - {n.run for n in nodes})
        raise ValueError(f"lineage: start_config cycle among runs {cyclic}")
    return nodes


def to_listing(nodes: list[Node]) -> dict:
    return {"runs": [asdict(node) | {"origin": node.origin()} for node in nodes]}


def to_markdown(nodes: list[Node]) -> str:
    lines = ["Lineage: each run below another started from that run's weights.", ""]
    for node in nodes:
        text = f"{'  ' * node.depth}- **{node.run}**"
        if node.upstream or node.external:
            text += f": from {node.origin()}"
        if not node.in_report:
            text += " (not in this report)"
        lines.append(text)
    return "\n".join(lines) + "\n"


def lineage_figure(nodes: list[Node]) -> Figure:
    """An indented tree: one row per run, elbow arrows from each upstream run."""
    # One x unit is one inch; 9 pt text is about 0.08 in per character.
    char = 0.08
    rows = max(len(nodes), 1)
    origin_x = max((n.depth + char * len(n.run) for n in nodes), default=1.0) + 0.8
    width = origin_x + char * max((len(n.origin()) for n in nodes), default=12) + 0.6
    figure = Figure(figsize=(width + 0.3, 0.8 + 0.38 * rows))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(-0.3, width)
    ax.set_ylim(rows + 0.2, -1.4)
    ax.text(0, -0.8, "run", weight="bold", va="center")
    ax.text(origin_x, -0.8, "started from", weight="bold", va="center")
    row_of = {}
    for row, node in enumerate(nodes):
        row_of[node.run] = row
        style = {"boxstyle": "round,pad=0.25", "fc": "#e8f0fb" if node.in_report else "white"}
        style["ec"] = "#4a78b5" if node.in_report else "0.6"
        ax.text(node.depth, row, node.run, va="center", bbox=style, zorder=3)
        if node.origin():
            ax.text(origin_x, row, node.origin(), va="center", color="0.3")
        if node.upstream is not None:
            parent = row_of[node.upstream]  # tree order: the parent is already placed
            x = node.depth - 0.8
            ax.plot([x, x], [parent + 0.3, row], color="0.45", lw=1, zorder=1)
            ax.annotate(
                "",
                xy=(node.depth - 0.08, row),
                xytext=(x, row),
                arrowprops={"arrowstyle": "-|>", "color": "0.45", "lw": 1},
                zorder=1,
            )
    if not nodes:
        ax.text(0, 0, "no runs", color="0.4")
    return figure


def write_lineage(nodes: list[Node], json_out=None, md_out=None, png=None, svg=None) -> list:
    written = []
    if json_out is not None:
        written.append(atomic_write_json(json_out, to_listing(nodes)))
    if md_out is not None:
        written.append(write_text(md_out, to_markdown(nodes)))
    if png is not None or svg is not None:
        with rc_context(RC):
            figure = lineage_figure(nodes)
        written += save_figure(figure, png, svg)
    return written
