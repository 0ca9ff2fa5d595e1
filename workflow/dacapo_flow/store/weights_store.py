"""Weights stores: where checkpoints and best-iteration records live (DaCapo's API and layout).

    <basedir>/<run>/checkpoints/iterations/<N>    checkpoint after N optimizer steps
    <basedir>/<run>/<dataset>/<criterion>.json     best iteration for that criterion

Unlike DaCapo 0.3.5, `retrieve_best` reads the very path `store_best` writes, checkpoints are
plain-container files written atomically, and loading restores optimizer and scheduler too.
"""

from __future__ import annotations

import glob
import logging
import operator
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dacapo_flow.layout import Layout, component
from dacapo_flow.store.best_record import BestRecord

# The checkpoint module imports torch; it is loaded on first use so that light jobs working
# only with best records (select-best) never pay for importing torch.
_weights = None


def _checkpoints():
    global _weights
    if _weights is None:
        from dacapo_flow.store import weights as module

        _weights = module
    return _weights


if TYPE_CHECKING:
    from dacapo_flow.store.weights import Weights

logger = logging.getLogger(__name__)


def run_name(run: Any) -> str:
    """A run given by name (str) or as an object with `.name`."""
    name = run if isinstance(run, str) else getattr(run, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"expected a run name or an object with .name, got {run!r}")
    return _path_component(name, "run name")


def dataset_name(dataset: Any) -> str:
    """A validation dataset given by name (str) or as an object with `.name`."""
    name = dataset if isinstance(dataset, str) else getattr(dataset, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"expected a dataset name or an object with .name, got {dataset!r}")
    return _path_component(name, "dataset name")


def _path_component(name: str, what: str) -> str:
    return component(name, what)


def capture_weights(run: Any, iteration: int) -> Weights:
    """Everything of `run` a checkpoint holds, after `iteration` steps."""
    iteration = checkpoint_iteration(iteration)
    scheduler = getattr(run, "lr_scheduler", None)
    sampler = getattr(run, "sampler_state", None)
    if callable(sampler):
        sampler = sampler()
    head_labels = getattr(run, "head_labels", None)
    optimizer = getattr(run, "optimizer", None)
    from dacapo_flow.store.rng_state import capture_rng_states  # torch: loaded on first use

    return _checkpoints().Weights(
        run.model.state_dict(),
        optimizer.state_dict() if optimizer is not None else None,
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        rng=capture_rng_states(),
        sampler=sampler,
        iteration=iteration,
        config_hash=getattr(run, "config_hash", None),
        head_labels=list(head_labels) if head_labels is not None else None,
    )


def checkpoint_iteration(iteration: Any) -> int:
    """A checkpoint number: an int >= 0, or a string of digits (DaCapo starters pass strings)."""
    if isinstance(iteration, str) and iteration.isdigit() and iteration.isascii():
        return int(iteration)
    if isinstance(iteration, bool):
        raise TypeError(f"iteration must be an int >= 0, got {iteration!r}")
    try:
        value = operator.index(iteration)
    except TypeError:
        raise TypeError(f"iteration must be an int >= 0, got {iteration!r}") from None
    if value < 0:
        raise ValueError(f"iteration must be an int >= 0, got {value}")
    return value


class WeightsStore(ABC):
    """Base class: loading into a run is shared, storage is up to the subclass."""

    def load_weights(self, run: Any, iteration: int) -> Weights:
        """Restore model (strict), optimizer and LR scheduler of checkpoint `iteration` into
        `run`. Returns the Weights; restoring RNG and sampler state is the caller's job."""
        weights = self.retrieve_weights(run, iteration)
        return self.restore(run, weights, f"checkpoint {iteration} of run {run_name(run)}")

    @staticmethod
    def restore(run: Any, weights: Weights, source: str) -> Weights:
        """Put loaded `weights` into `run`: model (strict, mismatches named), optimizer and
        LR scheduler where the run has them. Returns `weights`."""
        problems = _checkpoints().state_dict_mismatch(run.model.state_dict(), weights.model)
        if problems:
            raise _checkpoints().CheckpointError(
                f"{source} does not fit the model: " + "; ".join(problems)
            )
        run.model.load_state_dict(weights.model, strict=True)
        optimizer = getattr(run, "optimizer", None)
        if optimizer is not None:
            if weights.optimizer is None:
                logger.warning("%s has no optimizer state: optimizer starts fresh", source)
            else:
                optimizer.load_state_dict(weights.optimizer)
        scheduler = getattr(run, "lr_scheduler", None)
        if scheduler is not None:
            if weights.scheduler is None:
                logger.warning("%s has no LR-scheduler state: scheduler starts fresh", source)
            else:
                scheduler.load_state_dict(weights.scheduler)
        return weights

    def load_best(self, run: Any, dataset: Any, criterion: str) -> Weights:
        """Load the checkpoint recorded as best for (`dataset`, `criterion`) into `run`."""
        return self.load_weights(run, self.retrieve_best(run, dataset, criterion))

    @abstractmethod
    def latest_iteration(self, run: Any) -> int | None:
        """The highest stored checkpoint number, or None when there is none."""

    @abstractmethod
    def store_weights(self, run: Any, iteration: int) -> Any:
        """Store the run's full training state as checkpoint `iteration`."""

    @abstractmethod
    def retrieve_weights(self, run: Any, iteration: int) -> Weights:
        """Read checkpoint `iteration` without touching the run."""

    @abstractmethod
    def remove(self, run: Any, iteration: int) -> None:
        """Delete checkpoint `iteration`."""

    @abstractmethod
    def store_best(
        self, run: Any, iteration: int | None, dataset: Any, criterion: str, **record: Any
    ) -> Any:
        """Record `iteration` as best for (`dataset`, `criterion`)."""

    @abstractmethod
    def retrieve_best(self, run: Any, dataset: Any, criterion: str) -> int:
        """The iteration recorded as best for (`dataset`, `criterion`)."""


class LocalWeightsStore(WeightsStore):
    """Checkpoints and best records as files under `basedir` (DaCapo's layout)."""

    def __init__(self, basedir: str | os.PathLike):
        self.basedir = Path(basedir)

    def __repr__(self) -> str:
        return f"LocalWeightsStore({str(self.basedir)!r})"

    # --- paths (all from the layout module) ----------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout(self.basedir)

    def run_dir(self, run: Any) -> Path:
        return Path(self.layout.run_dir(run_name(run)))

    def iterations_dir(self, run: Any) -> Path:
        return self.checkpoint_path(run, 0).parent

    def checkpoint_path(self, run: Any, iteration: Any) -> Path:
        return Path(self.layout.checkpoint(run_name(run), checkpoint_iteration(iteration)))

    def best_path(self, run: Any, dataset: Any, criterion: str) -> Path:
        return Path(self.layout.best_record(run_name(run), dataset_name(dataset), str(criterion)))

    def best_weights_path(self, run: Any, dataset: Any, criterion: str) -> Path:
        return Path(self.layout.best_weights(run_name(run), dataset_name(dataset), str(criterion)))

    def best_paths(self, run: Any, criterion: str) -> list[Path]:
        """Every `<run>/<dataset>/<criterion>.json` that exists, sorted by dataset."""
        pattern = self.layout.best_record(run_name(run), "*", str(criterion))
        return sorted(Path(p) for p in glob.glob(glob.escape(pattern).replace("[*]", "*")))

    # --- checkpoints ------------------------------------------------------------------

    def latest_iteration(self, run: Any) -> int | None:
        directory = self.iterations_dir(run)
        if not directory.is_dir():
            return None
        # Temp files of interrupted writes and stray files are not checkpoints: skip them.
        iterations = [
            int(path.name)
            for path in directory.iterdir()
            if path.name.isdigit() and path.name.isascii() and path.is_file()
        ]
        return max(iterations, default=None)

    def store_weights(self, run: Any, iteration: int) -> Path:
        if isinstance(iteration, str):
            raise TypeError(f"iteration must be an int >= 0, got {iteration!r}")
        path = self.checkpoint_path(run, iteration)
        logger.info("storing checkpoint %s", path)
        return _checkpoints().save_checkpoint(capture_weights(run, iteration), path)

    def retrieve_weights(self, run: Any, iteration: Any) -> Weights:
        return _checkpoints().load_checkpoint(self.checkpoint_path(run, iteration))

    def remove(self, run: Any, iteration: Any) -> None:
        path = self.checkpoint_path(run, iteration)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        path.unlink()

    # --- best records -----------------------------------------------------------------

    def store_best(
        self,
        run: Any,
        iteration: int | None,
        dataset: Any,
        criterion: str,
        parameters: Any = None,
        score: float | None = None,
        higher_is_better: bool | None = None,
        **extra: Any,
    ) -> Path:
        """Write `<run>/<dataset>/<criterion>.json` atomically. `iteration` None records that
        no iteration had a valid (non-NaN) score; `retrieve_best` then refuses it."""
        record = BestRecord(
            iteration=None if iteration is None else checkpoint_iteration(iteration),
            parameters=parameters,
            score=score,
            higher_is_better=higher_is_better,
            dataset=dataset_name(dataset),
            criterion=str(criterion),
            **extra,
        )
        return record.write(self.best_path(run, dataset, criterion))

    def retrieve_best_record(self, run: Any, dataset: Any, criterion: str) -> BestRecord:
        """The whole best record written by `store_best` (or by `select-best`)."""
        path = self.best_path(run, dataset, criterion)
        if not path.is_file():
            raise FileNotFoundError(
                f"no best record {path} for run {run_name(run)}, dataset {dataset_name(dataset)}, "
                f"criterion {criterion} (has select-best run?)"
            )
        return BestRecord.read(path)

    def retrieve_best(self, run: Any, dataset: Any, criterion: str) -> int:
        record = self.retrieve_best_record(run, dataset, criterion)
        if record.iteration is None:
            raise ValueError(
                f"best record {self.best_path(run, dataset, criterion)} has no iteration: no "
                "validated iteration had a valid score for this criterion"
            )
        return checkpoint_iteration(record.iteration)
