"""Subcommand `import-dacapo` (wired into `dacapo-flow` by `add_parsers`)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

_ORDER = [
    "name", "repetition", "num_iterations", "validation_interval", "start_config",
    "task_config", "architecture_config", "trainer_config", "datasplit_config",
]  # fmt: skip


def run_config_yaml(
    config: dict, untranslated: list[str], source: str, to_check: list[str] = ()
) -> str:
    """The imported config as YAML, untranslated keys and what to check listed as comments
    at the top."""
    lines = [f"# Imported from DaCapo run config {source} by `dacapo-flow import-dacapo`."]
    if untranslated:
        lines.append("# Not translated (no dacapo-flow equivalent; check before training):")
        lines += [f"#   - {item}" for item in untranslated]
    else:
        lines.append("# Every key was translated.")
    if to_check:
        lines.append("# Translated, but check before training:")
        lines += [f"#   - {item}" for item in to_check]
    ordered = {key: config[key] for key in _ORDER if key in config}
    ordered |= {key: value for key, value in config.items() if key not in ordered}
    body = yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None, width=100)
    return "\n".join(lines) + "\n" + body


def cmd_import_dacapo(args) -> None:
    from ..store.atomic import atomic_write
    from .dacapo_config import dacapo_run_yaml, import_dacapo_run
    from .import_checks import import_findings, start_from_store

    config, untranslated = import_dacapo_run(args.store, args.run)
    if args.start is not None:
        config["start_config"] = start_from_store(args.store, args.run, args.start)
    to_check = import_findings(config, args.store, args.run)
    source = str(dacapo_run_yaml(args.store, args.run))
    text = run_config_yaml(config, untranslated, source, to_check)
    for item in untranslated:
        print(f"not translated: {item}", file=sys.stderr)
    for item in to_check:
        print(f"check: {item}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.out, lambda f: f.write(text.encode()))
        print(f"wrote {args.out}", file=sys.stderr)


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("import-dacapo", help="translate a DaCapo run config")
    p.add_argument("--store", type=Path, required=True, help="DaCapo runs_base_dir")
    p.add_argument("--run", required=True, help="run name (configs/runs/<run>.yaml)")
    p.add_argument("--out", type=Path, help="run config YAML to write (default: stdout)")
    p.add_argument(
        "--start",
        metavar="ITERATION|CRITERION",
        help="start_config from this DaCapo run's checkpoint: an iteration (300) or the "
        "criterion of a best record (mito__dice)",
    )
    p.set_defaults(func=cmd_import_dacapo)
