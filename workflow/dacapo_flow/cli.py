"""`dacapo-flow`: check a workflow, look at its results, and the steps its jobs run.

Each subcommand imports only what it needs, so light jobs (select-best) never load torch.
"""

import argparse
import logging
import sys
from pathlib import Path


def _run_config(args, verify: bool = True):
    """The run config a job reads: the run's resolved `<store>/<run>/run_config.yaml` in the
    workflow (any run config YAML when typed by hand); with `verify`, its values and then
    the metadata of its arrays checked."""
    from .config.loading import load_run_config
    from .data.array_checks import verify_run_data

    config = load_run_config(args.run_config, verify=verify)
    return verify_run_data(config, str(args.run_config)) if verify else config


def add_run_config_argument(parser):
    parser.add_argument(
        "--run-config",
        type=Path,
        required=True,
        help="the run's resolved config (<store>/<run>/run_config.yaml) or a run config YAML",
    )


def _add_run_arguments(parser):
    add_run_config_argument(parser)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:<i>")
    parser.add_argument(
        "--normalisation", type=Path, nargs="*", help="recorded ranges (<dataset>.json)"
    )


def cmd_train_chunk(args):
    from .devices import select_device, set_threads
    from .training import train_chunk

    config = _run_config(args)  # a bad config fails here, before any compute
    set_threads(args.threads)
    train_chunk(
        config,
        args.iteration,
        out=args.out,
        stats_out=args.stats_out,
        previous=args.previous,
        start=args.start,
        device=select_device(args.device),
        progress=not args.no_progress,
        normalisation=_records(args.normalisation),
    )


def cmd_validate(args):
    from .devices import select_device, set_threads
    from .validation import validate_checkpoint

    config = _run_config(args)
    set_threads(args.threads)
    validate_checkpoint(
        config,
        args.checkpoint,
        args.out,
        args.scratch,
        select_device(args.device),
        normalisation=_records(args.normalisation),
    )


def _records(paths) -> dict:
    """Recorded normalisation files by dataset name (their file names)."""
    return {Path(p).stem: Path(p) for p in paths or []}


def cmd_normalisation(args):
    from .data.arrays import open_array
    from .data.intensity import recorded_range

    config = _run_config(args)
    split = config.datasplit_config
    datasets = {d.name: d for d in [*split.train_configs, *split.validate_configs]}
    if args.dataset not in datasets or datasets[args.dataset].raw.percentiles is None:
        raise ValueError(
            f"{args.run_config}: no dataset {args.dataset!r} normalised by percentiles"
        )
    raw = datasets[args.dataset].raw
    low, high = recorded_range(open_array(raw.path, raw.dataset), raw.percentiles, args.out)
    print(
        f"{args.dataset}: percentiles {raw.percentiles} of {raw.path}/{raw.dataset}: {low}..{high}"
    )


def cmd_collect_scores(args):
    from .selection import collect_scores

    collect_scores(args.scores, args.stats, args.scores_out, args.stats_out)


def cmd_select_best(args):
    from .selection import select_best

    select_best(
        args.scores, args.dataset, args.criterion, args.checkpoints, args.out, args.weights_out
    )


def cmd_synthetic_data(args):
    from .data.synthetic import write_synthetic_dataset
    from .store.atomic import atomic_write_json

    paths = write_synthetic_dataset(args.out, seed=args.seed)
    atomic_write_json(Path(args.out) / "manifest.json", {k: str(v) for k, v in paths.items()})


def cmd_check(args):
    from .config.loading import read_yaml
    from .config.predictions import PredictionTarget
    from .plan.runs import load_plan, plan_warnings
    from .predict.checks import target_warnings

    config = read_yaml(args.config)
    plan = load_plan(config, str(args.config))
    targets = [PredictionTarget.model_validate(t) for t in config.get("predictions") or []]
    for warning in plan_warnings(plan) + target_warnings(targets, plan, str(args.config)):
        print(f"warning: {warning}", file=sys.stderr)
    for name, run in plan.items():
        print(f"{name}: {len(run.config.iterations())} checkpoints, ok")


# What a person types; every other subcommand is a step the workflow's jobs call.
PERSON_COMMANDS = ("check", "view", "score-prediction", "export", "fetch-cremi", "import-dacapo")


def _command_list(sub) -> str:
    """`--help`'s list of subcommands, those a person types first."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    width = max(map(len, helps)) + 2

    def block(title, names):
        return [title] + [f"  {name.ljust(width)}{helps[name]}" for name in names]

    people = [name for name in PERSON_COMMANDS if name in helps]
    jobs = [name for name in helps if name not in PERSON_COMMANDS]
    lines = block("commands you type:", people) + [""]
    lines += block("steps the workflow's jobs call (snakemake runs these):", jobs)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dacapo-flow",
        usage="dacapo-flow [-h] [-v] COMMAND ...",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS, prog="dacapo-flow"
    )

    p = sub.add_parser("train-chunk", help="train one chunk up to --iteration")
    _add_run_arguments(p)
    p.add_argument("--iteration", type=int, required=True, help="checkpoint to reach")
    p.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    p.add_argument("--stats-out", type=Path, required=True, help="chunk's training stats")
    init = p.add_mutually_exclusive_group()
    init.add_argument("--previous", type=Path, help="checkpoint to continue from")
    init.add_argument("--start", type=Path, help="starter weights file (finetune)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_chunk)

    p = sub.add_parser("validate", help="validate one checkpoint")
    _add_run_arguments(p)
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file")
    p.add_argument("--out", type=Path, required=True, help="scores file to write")
    p.add_argument("--scratch", type=Path, required=True, help="directory for temp predictions")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("normalisation", help="record a dataset's raw percentile range")
    _add_run_arguments(p)
    p.add_argument("--dataset", required=True, help="the dataset (train or validate)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.set_defaults(func=cmd_normalisation)

    p = sub.add_parser("collect-scores", help="merge per-iteration scores and stats")
    p.add_argument("--scores", type=Path, nargs="*", default=[])
    p.add_argument("--stats", type=Path, nargs="+", required=True)
    p.add_argument("--scores-out", type=Path, required=True)
    p.add_argument("--stats-out", type=Path, required=True)
    p.set_defaults(func=cmd_collect_scores)

    p = sub.add_parser("select-best", help="write the best JSON and weights of one criterion")
    p.add_argument("--scores", type=Path, required=True, help="the run's validation_scores.nc")
    p.add_argument("--dataset", required=True)
    p.add_argument("--criterion", required=True)
    p.add_argument(
        "--checkpoints", type=Path, nargs="+", required=True, help="the run's checkpoint files"
    )
    p.add_argument("--out", type=Path, required=True, help="best JSON to write")
    p.add_argument("--weights-out", type=Path, required=True, help="winning weights to write")
    p.set_defaults(func=cmd_select_best)

    p = sub.add_parser("synthetic-data", help="write the bundled synthetic dataset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synthetic_data)

    from .data.cremi import add_parsers as add_cremi_parsers
    from .export.cli import add_parsers as add_export_parsers
    from .interop.cli import add_parsers as add_interop_parsers
    from .predict.cli import add_parsers as add_predict_parsers
    from .report.cli import add_parsers as add_report_parsers

    add_interop_parsers(sub)
    add_export_parsers(sub)
    add_report_parsers(sub)
    add_predict_parsers(sub)
    add_cremi_parsers(sub)

    p = sub.add_parser("check", help="verify a workflow config and all its run configs")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.set_defaults(func=cmd_check)

    from .view.cli import add_parser as add_view_parser

    add_view_parser(sub)
    parser.epilog = _command_list(sub)
    return parser


# Failures a user can act on: one clear line, no traceback (unless --verbose).
def _expected_errors() -> tuple[type[BaseException], ...]:
    from .config.base import ConfigError

    errors: list[type[BaseException]] = [ConfigError, FileNotFoundError, ValueError]
    if "torch" in sys.modules:  # only jobs that imported torch can raise these
        from .start import StartError
        from .store.weights import CheckpointError
        from .training import TrainingError

        errors += [CheckpointError, StartError, TrainingError]
    return tuple(errors)


def main(argv=None) -> int:
    from .job_threads import cap_thread_pools

    cap_thread_pools(sys.argv[1:] if argv is None else list(argv))  # before numpy is imported
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .config.base import ConfigError

    try:
        args.func(args)
    except ConfigError as error:
        print(f"dacapo-flow: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    except Exception as error:
        if args.verbose or not isinstance(error, _expected_errors()):
            logging.getLogger("dacapo_flow").exception("%s failed", args.command)
        print(f"dacapo-flow {args.command}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)  # 128 + signal for a preempted chunk
    return 0


if __name__ == "__main__":
    sys.exit(main())
