"""Subcommands of `dacapo-flow` for applying a model; `add_parsers(subparsers)` registers them.

Every argument is an explicit file: the Snakefile derives them all from `Layout` and
`PredictionPaths`. A shard stopped by `--max-blocks` exits with status 3 and no shard JSON.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..layout import manifest_path

logger = logging.getLogger(__name__)

STOPPED = 3  # exit status of a shard stopped early by --max-blocks


def _run_config(args):
    from ..cli import _run_config

    # Not verified: prediction needs the task and network only, not the training arrays.
    return _run_config(args, verify=False)


def _target(args):
    from ..config.predictions import load_target, parse_target

    if args.target_json is not None:
        return parse_target(json.loads(args.target_json), "--target-json")
    return load_target(args.target_config, args.target)


def _plan(args):
    from .plan import Plan

    return Plan.read(args.prepared)


def _manifest(args) -> Path:
    return Path(args.manifest) if args.manifest else Path(manifest_path(args.out))


def _stopped(what: str, args) -> None:
    logger.warning(
        "%s %d/%d stopped by --max-blocks; rerun to resume", what, args.shard, args.shards
    )
    raise SystemExit(STOPPED)


def cmd_prepare(args):
    from .prepare import prepare

    prepare(_run_config(args), args.weights, args.best, _target(args), args.zarr, args.out)


def cmd_predict_shard(args):
    from ..config.base import ConfigError
    from ..devices import select_device, set_threads
    from .prepare import load_model
    from .progress import file_digest
    from .shard import run_predict_shard

    plan = _plan(args)
    if file_digest(args.weights) != plan.weights["sha256"]:
        raise ConfigError(f"weights {args.weights} are not the ones {args.prepared} was made for")
    set_threads(args.threads)
    model, _ = load_model(_run_config(args), args.weights)
    device = select_device(args.device)
    logger.info("predicting on %s", device)
    done = run_predict_shard(
        plan, model, device, args.shard, args.shards, args.out, _manifest(args), args.max_blocks
    )
    if not done:
        _stopped("predict shard", args)


def cmd_segment_shard(args):
    from .prepare import build_task
    from .segment_shard import run_segment_shard
    from .verify import check_output

    plan = _plan(args)
    if args.predictions:
        problems = check_output(plan, "predict", "prediction", args.predictions, read_data=False)
        if problems:
            raise RuntimeError("the prediction is incomplete:\n" + "\n".join(problems))
    done = run_segment_shard(
        plan,
        build_task(_run_config(args)),
        args.shard,
        args.shards,
        args.records,
        args.out,
        _manifest(args),
        args.max_blocks,
    )
    if not done:
        _stopped("segment shard", args)


def cmd_merge(args):
    from .merge import merge_job

    merge_job(_plan(args), args.segments, args.lut, args.out)


def cmd_relabel_shard(args):
    from .relabel import run_relabel_shard

    plan = _plan(args)
    manifest = _manifest(args)
    if not run_relabel_shard(
        plan, args.merge, args.lut, args.shard, args.shards, args.out, manifest, args.max_blocks
    ):
        _stopped("relabel shard", args)


def cmd_verify(args):
    from .verify import verify

    verify(_plan(args), args.predictions, args.relabels, args.out, not args.no_data_check)


def cmd_score(args):
    from ..config.loading import read_yaml
    from ..store.atomic import atomic_write_json
    from .score import describe, score_target

    record = score_target(
        read_yaml(args.config),
        str(args.config),
        args.name,
        gt=args.gt,
        mask=args.mask,
        no_mask=args.no_mask,
        run_config_path=args.run_config,
    )
    print(describe(record))
    if args.out is not None:
        atomic_write_json(args.out, record)
        print(f"scores: {args.out}")


def _run_arguments(p):
    from ..cli import add_run_config_argument

    add_run_config_argument(p)


def _shard_arguments(p, kind):
    p.add_argument("--prepared", type=Path, required=True, help="prepared.json")
    p.add_argument("--shard", type=int, required=True, help="this shard, 0 <= I < N")
    p.add_argument("--shards", type=int, required=True, help="number of shards N")
    p.add_argument("--out", type=Path, required=True, help=f"the {kind} shard JSON to write")
    p.add_argument("--manifest", type=Path, help="resume manifest (default: beside --out)")
    p.add_argument("--max-blocks", type=int, help="stop after K new blocks (exit status 3)")


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("predict-prepare", help="plan a prediction, create its outputs")
    _run_arguments(p)
    p.add_argument("--weights", type=Path, required=True, help="the selected model's .pt")
    p.add_argument("--best", type=Path, required=True, help="its best JSON")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-json", help="the PredictionTarget as JSON text")
    target.add_argument("--target-config", type=Path, help="YAML/JSON file with the target")
    p.add_argument("--target", help="name of the target in --target-config's `predictions`")
    p.add_argument("--zarr", type=Path, required=True, help="output OME-Zarr container")
    p.add_argument("--out", type=Path, required=True, help="prepared.json to write")
    p.set_defaults(func=cmd_prepare)

    p = subparsers.add_parser("predict-shard", help="predict blocks I::N")
    _shard_arguments(p, "predict")
    _run_arguments(p)
    p.add_argument("--weights", type=Path, required=True, help="the selected model's .pt")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:<i>")
    p.set_defaults(func=cmd_predict_shard)

    p = subparsers.add_parser("segment-shard", help="segment blocks I::N")
    _shard_arguments(p, "segment")
    _run_arguments(p)
    p.add_argument("--records", type=Path, required=True, help="directory of face records")
    p.add_argument("--predictions", type=Path, nargs="*", default=[], help="predict shard JSONs")
    p.set_defaults(func=cmd_segment_shard)

    p = subparsers.add_parser("segment-merge", help="merge fragments across block faces")
    p.add_argument("--prepared", type=Path, required=True, help="prepared.json")
    p.add_argument("--segments", type=Path, nargs="+", required=True, help="segment shard JSONs")
    p.add_argument("--lut", type=Path, required=True, help="lookup table (.npz) to write")
    p.add_argument("--out", type=Path, required=True, help="merge JSON to write")
    p.set_defaults(func=cmd_merge)

    p = subparsers.add_parser("relabel-shard", help="write final ids of blocks I::N")
    _shard_arguments(p, "relabel")
    p.add_argument("--merge", type=Path, required=True, help="merge JSON")
    p.add_argument("--lut", type=Path, required=True, help="lookup table (.npz)")
    p.set_defaults(func=cmd_relabel_shard)

    p = subparsers.add_parser("predict-verify", help="check every block; write verified JSON")
    p.add_argument("--prepared", type=Path, required=True, help="prepared.json")
    p.add_argument("--predictions", type=Path, nargs="+", required=True, help="predict JSONs")
    p.add_argument("--relabels", type=Path, nargs="*", default=[], help="relabel shard JSONs")
    p.add_argument("--out", type=Path, required=True, help="verified JSON to write")
    p.add_argument("--no-data-check", action="store_true", help="skip re-reading the blocks")
    p.set_defaults(func=cmd_verify)

    p = subparsers.add_parser(
        "score-prediction",
        help="score a prediction target's segmentation as validation scores (and the gap)",
    )
    p.add_argument("name", help="a prediction target (from predictions:)")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument(
        "--gt",
        help="ground truth PATH:DATASET (default: the validation dataset's; alone, no mask)",
    )
    mask = p.add_mutually_exclusive_group()
    mask.add_argument("--mask", help="count only voxels where PATH:DATASET > 0")
    mask.add_argument("--no-mask", action="store_true", help="count every gt voxel")
    p.add_argument("--run-config", type=Path, help="default: <store>/<run>/run_config.yaml")
    p.add_argument("--out", type=Path, help="write the scores as JSON here")
    p.set_defaults(func=cmd_score)
