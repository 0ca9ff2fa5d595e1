"""Command-line subcommands of the report stage. Handlers take explicit file paths only.

Wire into `dacapo_flow.cli.build_parser` with `report_cli.add_parsers(sub)`. Nothing here
imports torch, and nothing trains or validates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _same_length(command: str, first: str, second: str, a: list, b: list) -> None:
    if len(a) != len(b):
        raise SystemExit(
            f"dacapo-flow {command}: {first} ({len(a)}) and {second} ({len(b)}) must list the "
            "same number of items, in matching order"
        )


def cmd_sweep_metadata(args) -> None:
    from ..config.sweeps import sweep_metadata
    from ..store.atomic import atomic_write_json

    start = None
    if args.start_external:
        start = {"external": args.start_external}
    elif args.start_run:
        start = {
            "run": args.start_run,
            "criterion": args.start_criterion,
            "dataset": args.start_dataset,
        }
    metadata = sweep_metadata(
        args.run,
        args.base_name or args.run,
        args.grid,
        args.repetition,
        args.repetitions,
        group=args.group,
        start=start,
    )
    atomic_write_json(args.out, metadata)


def cmd_report_leaderboard(args) -> None:
    from ..config.sweeps import read_sweep_metadata
    from .leaderboard import leaderboard, read_best, write_leaderboard

    _same_length("report-leaderboard", "--best", "--sweep", args.best, args.sweep)
    entries = [
        (read_sweep_metadata(sweep), read_best(best, args.dataset, args.criterion))
        for sweep, best in zip(args.sweep, args.best)
    ]
    rows = leaderboard(entries, where=f"leaderboard of {args.criterion} on {args.dataset}")
    write_leaderboard(rows, args.dataset, args.criterion, args.csv, args.md, args.tex, args.html)


def cmd_report_curves(args) -> None:
    from .curves import render_curves

    title = args.title or Path(args.stats).parent.name
    render_curves(args.stats, args.scores, args.best, args.out_png, args.out_svg, title)


def cmd_report_lineage(args) -> None:
    from ..config.sweeps import read_sweep_metadata
    from ..store.best_record import BestRecord
    from .lineage import lineage, write_lineage

    _same_length("report-lineage", "--start-run", "--start-best", args.start_run, args.start_best)
    metadata = [read_sweep_metadata(path) for path in args.sweep]
    records = {run: BestRecord.read(path) for run, path in zip(args.start_run, args.start_best)}
    write_lineage(lineage(metadata, records), args.json, args.md, args.out_png, args.out_svg)


def cmd_report_results(args) -> None:
    from .results import write_results

    write_results(args.run, args.sweep, args.best, args.out)


def cmd_report_validation_picture(args) -> None:
    from ..cli import _records, _run_config
    from ..devices import select_device, set_threads
    from .sections import validation_picture

    config = _run_config(args)
    set_threads(args.threads)
    record = _records(args.normalisation).get(args.dataset)
    device = select_device(args.device)
    validation_picture(config, args.best, args.weights, args.dataset, args.out, record, device)


def cmd_report_prediction_preview(args) -> None:
    from .sections import prediction_preview

    prediction_preview(args.prepared, args.out)


def add_parsers(subparsers) -> None:
    """Register sweep-metadata, report-leaderboard, report-curves, report-lineage,
    report-results, report-validation-picture and report-prediction-preview."""
    p = subparsers.add_parser("sweep-metadata", help="write a run's sweep metadata JSON")
    p.add_argument("--out", type=Path, required=True, help="<store>/<run>/sweep.json")
    p.add_argument("--run", required=True)
    p.add_argument("--base-name", help="the run config's own name (default: --run)")
    p.add_argument("--group", help="leaderboard row (default: base name + grid point)")
    p.add_argument("--grid", type=_json_object, default={}, help="grid point as JSON object")
    p.add_argument("--repetition", type=int, default=0)
    p.add_argument("--repetitions", type=int, help="repetitions planned for the group")
    p.add_argument("--start-run", help="upstream run of a finetune")
    p.add_argument("--start-criterion", help="its criterion (or checkpoint iteration)")
    p.add_argument("--start-dataset", help="its validation dataset")
    p.add_argument("--start-external", help="or: a start outside the workflow, in words")
    p.set_defaults(func=cmd_sweep_metadata)

    p = subparsers.add_parser("report-leaderboard", help="table of one dataset and criterion")
    p.add_argument("--best", type=Path, nargs="+", required=True, help="best JSONs")
    p.add_argument("--sweep", type=Path, nargs="+", required=True, help="matching sweep.json")
    p.add_argument("--dataset", required=True)
    p.add_argument("--criterion", required=True)
    for kind in ("csv", "md", "tex", "html"):
        p.add_argument(f"--{kind}", type=Path, help=f"write the table as {kind}")
    p.set_defaults(func=cmd_report_leaderboard)

    p = subparsers.add_parser("report-curves", help="training and validation curves of a run")
    p.add_argument("--stats", type=Path, required=True, help="the run's training_stats.nc")
    p.add_argument("--scores", type=Path, help="the run's validation_scores.nc")
    p.add_argument("--best", type=Path, nargs="*", default=[], help="its best JSONs")
    p.add_argument("--out-png", type=Path)
    p.add_argument("--out-svg", type=Path)
    p.add_argument("--title", help="figure title (default: the stats file's directory)")
    p.set_defaults(func=cmd_report_curves)

    p = subparsers.add_parser("report-lineage", help="which run started from which")
    p.add_argument("--sweep", type=Path, nargs="+", required=True, help="every run's sweep.json")
    p.add_argument(
        "--start-best", type=Path, nargs="*", default=[], help="upstream best JSONs of finetunes"
    )
    p.add_argument("--start-run", nargs="*", default=[], help="the finetunes, matching order")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    p.add_argument("--out-png", type=Path)
    p.add_argument("--out-svg", type=Path)
    p.set_defaults(func=cmd_report_lineage)

    p = subparsers.add_parser("report-results", help="a run's selected checkpoints and scores")
    p.add_argument("--run", required=True)
    p.add_argument("--sweep", type=Path, required=True, help="the run's sweep.json")
    p.add_argument("--best", type=Path, nargs="*", default=[], help="its best JSONs")
    p.add_argument("--out", type=Path, required=True, help="HTML page to write")
    p.set_defaults(func=cmd_report_results)

    from ..cli import _add_run_arguments

    p = subparsers.add_parser(
        "report-validation-picture", help="a validation section as the selected model sees it"
    )
    _add_run_arguments(p)
    p.add_argument("--dataset", required=True, help="the validation dataset")
    p.add_argument("--best", type=Path, required=True, help="the best JSON to show")
    p.add_argument("--weights", type=Path, required=True, help="its winning weights")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.set_defaults(func=cmd_report_validation_picture)

    p = subparsers.add_parser("report-prediction-preview", help="a prediction target's section")
    p.add_argument("--prepared", type=Path, required=True, help="the target's prepared.json")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.set_defaults(func=cmd_report_prediction_preview)


def main(argv=None) -> int:
    """`python -m dacapo_flow.report.cli ...`: these subcommands without the main CLI."""
    parser = argparse.ArgumentParser(prog="dacapo-flow", description=__doc__.splitlines()[0])
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
