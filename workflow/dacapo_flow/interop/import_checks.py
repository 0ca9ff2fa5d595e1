"""What a user must still look at after `import-dacapo`: translated keys that will not work as
they are on this machine or in this workflow (a start, data paths, data fetchers, a warm-up),
and the `--start` that points `start_config` at the imported DaCapo run's own checkpoint.

Each finding is a "key.path: what to check" line; none changes the translated config.
"""

from __future__ import annotations

import os
from pathlib import Path

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.starts import DaCapoRunStartConfig

# The train_chunk rule's `threads` (workflow/rules/train.smk); profiles may give more.
TRAIN_CHUNK_THREADS = 2


def dacapo_iterations(store: str | os.PathLike, run: str) -> list[int]:
    """Checkpoint iterations the DaCapo store holds for `run`."""
    directory = Path(store) / run / "checkpoints" / "iterations"
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_file())


def start_from_store(store: str | os.PathLike, run: str, start: str) -> dict:
    """`start_config` for `--start ITERATION|CRITERION`: the DaCapo run's checkpoint of that
    iteration, or the one its best record for that criterion names. It must exist."""
    from .dacapo_store import ExternalStartError, resolve_external_start

    key, value = ("iteration", int(start)) if start.isdigit() else ("criterion", start)
    config = {"runs_base_dir": str(Path(store).resolve()), "run": run, key: value}
    try:
        resolve_external_start(DaCapoRunStartConfig.model_validate(config))
    except (ExternalStartError, ConfigError) as error:
        found = dacapo_iterations(store, run)
        raise ConfigError(
            f"--start {start}: {error} (checkpoints of DaCapo run {run}: {found or 'none'})"
        ) from None
    return config


def import_findings(config: dict, store: str | os.PathLike, run: str) -> list[str]:
    """Everything to check in an imported run config, as "key: message" lines."""
    return (
        _start_findings(config, store, run)
        + _path_findings(config)
        + _fetcher_findings(config)
        + _warmup_findings(config)
    )


def _start_findings(config: dict, store, run: str) -> list[str]:
    start = config.get("start_config")
    if start is None:
        found = dacapo_iterations(store, run)
        return [
            (
                "start_config: none, so this run trains from scratch; to continue from the "
                f"DaCapo run's weights, import again with --start ITERATION (its checkpoints: "
                f"{found or 'none'}) or --start CRITERION (a best record, e.g. --start mito__dice)"
            )
        ]
    from .dacapo_store import ExternalStartError, resolve_external_start

    try:
        resolve_external_start(DaCapoRunStartConfig.model_validate(start))
    except (ExternalStartError, ConfigError, ValueError) as error:
        return [f"start_config: {error}"]
    return []


def _path_findings(config: dict) -> list[str]:
    found = []
    split = config.get("datasplit_config") or {}
    for group in ("train_configs", "validate_configs"):
        for i, dataset in enumerate(split.get(group) or []):
            for role in ("raw", "gt", "mask"):
                array = dataset.get(role)
                if isinstance(array, dict) and not Path(array["path"]).exists():
                    found.append(
                        f"datasplit_config.{group}[{i}].{role}.path: {array['path']} does not "
                        "exist on this machine"
                    )
    return found


def _fetcher_findings(config: dict) -> list[str]:
    fetchers = (config.get("trainer_config") or {}).get("num_data_fetchers")
    if not isinstance(fetchers, int) or fetchers <= TRAIN_CHUNK_THREADS - 1:
        return []
    message = (
        f"trainer_config.num_data_fetchers: {fetchers} processes preparing batches, but a "
        f"train_chunk job has {TRAIN_CHUNK_THREADS} threads unless a profile sets more; "
        "'auto' uses the job's threads - 1"
    )
    return [message]


def _warmup_findings(config: dict) -> list[str]:
    trainer = config.get("trainer_config") or {}
    warmup, steps = trainer.get("warmup_iterations") or 0, config.get("num_iterations")
    rate = trainer.get("learning_rate", 1e-4)
    if not warmup or not isinstance(steps, int) or steps >= warmup:
        return []
    peak = rate * (0.01 + 0.99 * steps / warmup)  # the linear warm-up of run.py
    message = (
        f"trainer_config.warmup_iterations: {warmup} (DaCapo 0.3.5's fixed warm-up) outlasts "
        f"num_iterations {steps}: the learning rate rises from {rate * 0.01:.3g} only to "
        f"{peak:.3g} (of {rate:g}) over the whole run; lower warmup_iterations (0: none) "
        "unless that is meant"
    )
    return [message]
