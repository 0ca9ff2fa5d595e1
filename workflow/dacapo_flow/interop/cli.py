"""Subcommands `import-dacapo` and `export` (wired into `dacapo-flow` by `add_parsers`)."""

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


def cmd_export(args) -> None:
    from ..export.bioimageio import cite_entry
    from ..export.selected import export_selected

    if not (args.out_dir or args.bioimageio_zip or args.cellmap_flow):
        raise SystemExit("export: give --out-dir, --bioimageio-zip and/or --cellmap-flow")
    export_selected(
        run_config=args.run_config,
        weights=args.weights,
        best=args.best,
        out_dir=args.out_dir,
        bioimageio_zip=args.bioimageio_zip,
        cellmap_flow=args.cellmap_flow,
        upstream=args.upstream or None,
        voxel_size=args.voxel_size,
        authors=args.author,
        license=args.license,
        normalisation=args.normalisation,
        cite=[cite_entry(text, reference) for text, reference in args.cite or []],
    )


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

    p = subparsers.add_parser("export", help="package a selected model for sharing")
    from ..cli import add_run_config_argument

    add_run_config_argument(p)
    p.add_argument("--weights", type=Path, required=True, help="checkpoint (e.g. best .pt)")
    p.add_argument("--best", type=Path, required=True, help="the best JSON it won")
    p.add_argument("--out-dir", type=Path, help="bioimage.io package folder to write")
    p.add_argument("--bioimageio-zip", type=Path, help="bioimage.io package zip to write")
    p.add_argument("--cellmap-flow", type=Path, help="cellmap-flow script file to write")
    p.add_argument("--upstream", help="run this one was finetuned from (provenance; '': none)")
    p.add_argument("--voxel-size", type=int, nargs="+", help="default: the training raw's")
    p.add_argument(
        "--author",
        action="append",
        help="bioimage.io author name (repeatable; default: `git config user.name`, else the "
        "login name, with a warning)",
    )
    p.add_argument("--license", default="CC-BY-4.0", help="bioimage.io license (SPDX id)")
    p.add_argument(
        "--cite",
        nargs=2,
        action="append",
        metavar=("TEXT", "DOI_OR_URL"),
        help="a citation listed before DaCapo's (repeatable)",
    )
    p.add_argument(
        "--normalisation",
        type=Path,
        help="the run's record of the selection dataset's percentile range "
        "(<store>/<run>/normalisation/<dataset>.json; default: computed as its job does)",
    )
    p.set_defaults(func=cmd_export)
