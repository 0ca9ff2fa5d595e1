"""Subcommand `export` (wired into `dacapo-flow` by `add_parsers`) and `export_selected`,
which loads one selected model and writes the packages asked for. The writers
(`bioimageio`, `cellmap_flow`) import `selected`; only this module imports them all."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .selected import SelectedModel


def export_selected(
    run_config,
    weights,
    best,
    out_dir=None,
    bioimageio_zip=None,
    cellmap_flow=None,
    cellmap_flow_weights=None,
    upstream=None,
    voxel_size=None,
    authors=None,
    license="CC-BY-4.0",
    normalisation=None,
    cite=None,
) -> SelectedModel:
    """Write the requested exports of one selected model (see `dacapo-flow export`)."""
    from .selected import load_selected

    selected = load_selected(run_config, weights, best, voxel_size, upstream, normalisation)
    if out_dir is not None or bioimageio_zip is not None:
        from .bioimageio import write_bioimageio_package

        write_bioimageio_package(
            selected,
            folder=out_dir,
            zip_path=bioimageio_zip,
            authors=authors,
            license=license,
            cite=cite,
        )
    if cellmap_flow is not None:
        from .cellmap_flow import write_cellmap_flow_script

        write_cellmap_flow_script(selected, Path(weights), cellmap_flow, cellmap_flow_weights)
    return selected


def cmd_export(args) -> None:
    from .bioimageio import cite_entry

    if not (args.out_dir or args.bioimageio_zip or args.cellmap_flow):
        raise SystemExit("export: give --out-dir, --bioimageio-zip and/or --cellmap-flow")
    export_selected(
        run_config=args.run_config,
        weights=args.weights,
        best=args.best,
        out_dir=args.out_dir,
        bioimageio_zip=args.bioimageio_zip,
        cellmap_flow=args.cellmap_flow,
        cellmap_flow_weights=args.cellmap_flow_weights,
        upstream=args.upstream or None,
        voxel_size=args.voxel_size,
        authors=args.author,
        license=args.license,
        normalisation=args.normalisation,
        cite=[cite_entry(text, reference) for text, reference in args.cite or []],
    )


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("export", help="package a selected model for sharing")
    from ..cli import add_run_config_argument

    add_run_config_argument(p)
    p.add_argument("--weights", type=Path, required=True, help="checkpoint (e.g. best .pt)")
    p.add_argument("--best", type=Path, required=True, help="the best JSON it won")
    p.add_argument("--out-dir", type=Path, help="bioimage.io package folder to write")
    p.add_argument("--bioimageio-zip", type=Path, help="bioimage.io package zip to write")
    p.add_argument("--cellmap-flow", type=Path, help="cellmap-flow script file to write")
    p.add_argument(
        "--cellmap-flow-weights",
        type=Path,
        help="its state dict, beside it (default: <script stem>_weights.pt)",
    )
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
