"""Chunks that survive preemption: on SIGTERM or SIGUSR1 (SLURM sends one before walltime or
preemption), a training chunk stops after its current step, writes an emergency state beside
its checkpoint and exits non-zero; the retry of the same chunk continues from that state and
ends bit-identical to an uninterrupted chunk.

The emergency state is a checkpoint (same contents) plus the chunk it belongs to: its config
hash, its first and last iteration, the step reached, a fingerprint of the file it started
from (previous checkpoint or starter weights) and the stats of the steps done. A state that
belongs to anything else (another config, another previous checkpoint) is ignored and removed.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from .stats.training_stats import TrainingIterationStats, TrainingStats
from .store.atomic import atomic_torch_save
from .store.model_file import sha256_of
from .store.weights import CheckpointError, Weights, load_plain

logger = logging.getLogger(__name__)

EMERGENCY_FORMAT = "dacapo-flow-emergency"
EMERGENCY_VERSION = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """While active, SIGTERM/SIGUSR1 only set `.signum`: the loop stops at a step boundary.
    Handlers can only be installed in the main thread; elsewhere nothing is installed."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            logger.warning("received %s: stopping after this step", signal.Signals(signum).name)
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        try:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread
            logger.debug("not in the main thread: no preemption handlers")
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def fingerprint(path: str | os.PathLike | None) -> str | None:
    """sha256 of the file a chunk starts from (None for a chunk from scratch)."""
    return None if path is None else sha256_of(path)


@dataclass
class ChunkIdentity:
    """What an emergency state must match to be resumed."""

    config_hash: str
    first: int
    target: int
    source: str | None  # fingerprint of the previous checkpoint or the starter weights


def _stats_dict(stats: TrainingStats) -> dict:
    fields = ("iteration", "loss", "time", "data_wait", "learning_rate")
    return {name: [float(getattr(s, name)) for s in stats.iteration_stats] for name in fields}


def _stats_from(d: dict) -> TrainingStats:
    rows = zip(*(d[k] for k in ("iteration", "loss", "time", "data_wait", "learning_rate")))
    return TrainingStats(
        TrainingIterationStats(int(i), loss, t, wait, lr) for i, loss, t, wait, lr in rows
    )


def save_emergency(
    path: str | os.PathLike,
    weights: Weights,
    chunk: ChunkIdentity,
    reached: int,
    stats: TrainingStats,
    extra: dict | None = None,
) -> Path:
    """Write the emergency state atomically; `weights.iteration` is the step reached."""
    state = {
        "format": EMERGENCY_FORMAT,
        "version": EMERGENCY_VERSION,
        "checkpoint": weights.to_dict(),
        "chunk": {**chunk.__dict__, "reached": int(reached)},
        "stats": _stats_dict(stats),
        "extra": extra or {},
    }
    return atomic_torch_save(state, path)


@dataclass
class EmergencyState:
    weights: Weights
    reached: int
    stats: TrainingStats
    extra: dict


def take_emergency(path: str | os.PathLike, chunk: ChunkIdentity) -> EmergencyState | None:
    """The emergency state at `path` if it belongs to `chunk`. One that does not (another
    config hash, another start file, another chunk) or cannot be read is removed: it could
    never be resumed, and a retry must not trip over it again."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = load_plain(path)
        if not isinstance(state, dict) or state.get("format") != EMERGENCY_FORMAT:
            raise CheckpointError(f"{path} is not a dacapo-flow emergency state")
        found = dict(state["chunk"])
        reached = found.pop("reached")
        if found != chunk.__dict__:
            differ = sorted(k for k in chunk.__dict__ if found.get(k) != chunk.__dict__[k])
            raise CheckpointError(f"{path} belongs to another chunk (differs in {differ})")
        if not chunk.first < reached < chunk.target:
            raise CheckpointError(f"{path} reached step {reached}, outside the chunk")
        weights = Weights.from_dict(state["checkpoint"], path)
    except (CheckpointError, KeyError, TypeError, ValueError) as error:
        logger.warning("ignoring and removing stale emergency state: %s", error)
        path.unlink(missing_ok=True)
        return None
    logger.info("resuming from emergency state %s at step %d", path, reached)
    return EmergencyState(weights, reached, _stats_from(state["stats"]), state.get("extra", {}))
