"""One training chunk: from checkpoint k (or start weights, or nothing) to checkpoint K."""

import logging
import random
import signal
from pathlib import Path

import numpy as np
import torch

from .config.run_config import RunConfig
from .config.starts import StartConfig
from .data.augment import build_augment
from .data.prefetch import Prefetcher
from .data.sampling import BatchSampler, SamplerDataset
from .devices import configure_backends, data_workers
from .interop.dacapo_store import external_start_for
from .layout import emergency_state
from .preemption import (
    ChunkIdentity,
    StopRequest,
    fingerprint,
    save_emergency,
    take_emergency,
)
from .run import Run
from .start import load_start_weights
from .stats.training_stats import TrainingStats
from .store.model_file import save_model_file
from .store.rng_state import restore_rng_states
from .store.weights import load_checkpoint, save_checkpoint
from .store.weights_store import LocalWeightsStore, capture_weights
from .training_loop import Stepper, TrainingError, run_iterations

logger = logging.getLogger(__name__)


class ChunkPreempted(TrainingError):
    """A stop signal ended the chunk early; its state is in `path` (None when no step was
    done). `exit_code` follows the shell's 128 + signal number convention."""

    def __init__(self, signum: int, path: Path | None, reached: int):
        self.signum, self.path, self.reached = signum, path, reached
        self.exit_code = 128 + signum
        where = f"state saved to {path}" if path else "no step done, nothing saved"
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {reached}; {where}; "
            "rerun the same command to continue"
        )


def build_sampler(run: Run, normalisation: dict | None = None) -> BatchSampler:
    config = run.config
    # The same normalisation as validation and prediction (min/max, or percentiles).
    records = normalisation or {}
    datasets = [
        SamplerDataset.from_config(d, record=records.get(d.name))
        for d in config.datasplit_config.train_configs
    ]
    trainer = config.trainer_config
    return BatchSampler(
        datasets,
        input_shape=run.model.input_shape,
        output_shape=run.model.output_shape,
        batch_size=trainer.batch_size,
        seed=run.seed,
        target_fn=run.task.target,
        target_context=run.task.target_context,
        augment=build_augment([a.model_dump(mode="json") for a in trainer.augments]),
    )


def check_start_input(run_config: RunConfig, start: Path | None):
    """A run with a start config needs the starter weights file (`--start`), one without
    none. The file is trusted: the workflow resolves it (`plan.starts.start_file`). Returns
    what loading an external start (a DaCapo run or a file) needs besides the file: its
    head labels and description; None for a start from a run of this workflow (its weights
    record their head labels)."""
    config = run_config.start_config
    if config is None:
        if start is not None:
            raise TrainingError(
                f"--start {start} given, but run {run_config.name!r} has no start_config"
            )
        return None
    if start is None:
        raise TrainingError(
            f"run {run_config.name!r} starts from {config!r}: its first chunk needs the "
            "starter weights file (--start)"
        )
    if isinstance(config, StartConfig):
        return None
    return external_start_for(config, Path(start))


def initialize_start(run: Run, start: Path, external=None) -> None:
    """Load the starter weights `start` into the run's model, heads matched by label
    (`external`: the resolved start of a DaCapo run or file, from `check_start_input`)."""
    logger.info("initialising from %s (%s)", run.config.start_config, start)
    if external is None:
        load_start_weights(run.model, start, new_head=run.head_labels)
    else:
        from .interop.external_start import initialize_from_checkpoint

        initialize_from_checkpoint(run.model, external, run.head_labels)


def seed_everything(seed: int) -> None:
    """Seed the global RNGs at a run's start, so anything drawing from them (dropout,
    cuDNN autotuning ties) is reproducible and the checkpoints' RNG states are too."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resume(run: Run, previous: Path, expected_iteration: int) -> int:
    """Restore everything from `previous` for a bit-exact continuation."""
    weights = load_checkpoint(previous)
    if weights.config_hash not in (None, run.config_hash):
        raise TrainingError(
            f"{previous} was trained with a different training config "
            f"(hash {weights.config_hash}, this run's is {run.config_hash}); "
            "rerun the run's earlier chunks first"
        )
    if weights.iteration is not None and weights.iteration != expected_iteration:
        raise TrainingError(
            f"{previous} holds iteration {weights.iteration}, expected {expected_iteration}"
        )
    LocalWeightsStore.restore(run, weights, str(previous))
    if weights.rng:
        restore_rng_states(weights.rng)
    run.sampler_state = weights.sampler  # carries the gradient scaler's state, if any
    return expected_iteration


def train_chunk(
    run_config: RunConfig,
    iteration: int,
    out: Path,
    stats_out: Path,
    previous: Path | None = None,
    start: Path | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    normalisation: dict | None = None,
) -> Path:
    """Train `run_config` up to `iteration`; write the checkpoint to `out` and the chunk's
    training stats to `stats_out`. `previous` is the checkpoint the chunk continues from
    (None for the first chunk), `start` the starter weights file of a finetune's first chunk.
    Returns `out`.

    A SIGTERM or SIGUSR1 stops the chunk after its current step: the state reached is saved
    to `emergency_state(out)` and ChunkPreempted is raised; the same call again continues
    from there (preemption.py)."""
    iterations = run_config.iterations()
    if iteration not in iterations:
        raise TrainingError(f"run {run_config.name!r} has no checkpoint {iteration}: {iterations}")
    index = iterations.index(iteration)
    first = iterations[index - 1] if index else 0
    if (previous is None) != (first == 0):
        raise TrainingError(
            f"chunk {first}->{iteration} of run {run_config.name!r} needs "
            + (f"the checkpoint of iteration {first}" if first else "no previous checkpoint")
        )

    device = device or torch.device("cpu")
    trainer = run_config.trainer_config
    configure_backends(trainer, device)
    with StopRequest() as stop:
        run = Run(run_config)
        chunk = ChunkIdentity(run.config_hash, first, iteration, fingerprint(previous or start))
        emergency_path = Path(emergency_state(out))
        emergency = take_emergency(emergency_path, chunk)
        done = TrainingStats()
        if emergency is not None:
            restore_emergency(run, emergency)
            done, reached = emergency.stats, emergency.reached
        elif previous is not None:
            resume(run, Path(previous), first)
            reached = first
        else:
            seed_everything(run.seed)
            external = check_start_input(run_config, start)
            if start is not None:
                initialize_start(run, start, external)
            reached = first

        sampler = build_sampler(run, normalisation)
        workers = data_workers(trainer.num_data_fetchers, device=device)
        # Two batches in flight per worker, so that every worker stays busy.
        depth = max(4, 2 * workers)
        # The workers start first: they import and make the first batches while this process
        # builds the optimizer (its first use imports torch._dynamo, ~1.3 s).
        with Prefetcher(sampler, reached, iteration, num_workers=workers, depth=depth) as batches:
            run.model.to(device)
            run.move_optimizer(device)
            run.model.train()
            stepper = Stepper(run, device)
            stats = run_iterations(
                run, batches, device, iteration - reached, progress, previous, stepper, stop
            )
        stats = TrainingStats.concat([done, stats])
        reached = stats.trained_until() if len(stats) else reached
        run.sampler_state = stepper.sampler_state(reached)
        if reached < iteration:
            raise preempted(run, stop.signum, emergency_path, chunk, reached, stats)
    # Stats first, checkpoint last: the checkpoint is the chunk's commit.
    stats.to_netcdf(stats_out)
    weights = capture_weights(run, iteration)
    save_checkpoint(weights, out)
    save_model_file(weights, out)  # after the commit: what selection copies without torch
    emergency_path.unlink(missing_ok=True)
    logger.info("wrote %s", out)
    return Path(out)


def restore_emergency(run: Run, state) -> None:
    LocalWeightsStore.restore(run, state.weights, "emergency state")
    restore_rng_states(state.weights.rng)
    run.sampler_state = state.weights.sampler


def preempted(run, signum, path: Path, chunk, reached: int, stats) -> ChunkPreempted:
    """Save the state reached (if any step was done) and the error that ends the job."""
    if reached == chunk.first:
        return ChunkPreempted(signum, None, reached)
    save_emergency(path, capture_weights(run, reached), chunk, reached, stats)
    logger.warning("stopped at step %d of %d: state saved to %s", reached, chunk.target, path)
    return ChunkPreempted(signum, path, reached)
