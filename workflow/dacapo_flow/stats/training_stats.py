"""Per-step training statistics (DaCapo's TrainingIterationStats / TrainingStats).

`iteration` is the 0-based index of an optimizer step, as in DaCapo, so after steps 0..N-1
`trained_until()` is N, the number of the checkpoint written at that point. Each training
chunk writes its own stats file; `TrainingStats.concat` joins them in order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from dacapo_flow.store.atomic import atomic_write_netcdf

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingIterationStats:
    """Loss, compute time and data wait (seconds), and learning rate of optimizer step
    `iteration` (0-based). Stats written before data wait and learning rate were recorded
    read back with NaN for them."""

    iteration: int
    loss: float
    time: float
    data_wait: float = float("nan")
    learning_rate: float = float("nan")


# Per-step variables stored as coordinates along "iterations", beside the loss.
_PER_STEP = ("time", "data_wait", "learning_rate")


class TrainingStats:
    """Ordered per-step statistics of one run, or one chunk of it."""

    def __init__(self, iteration_stats: Iterable[TrainingIterationStats] = ()):
        self.iteration_stats: list[TrainingIterationStats] = []
        for stats in iteration_stats:
            self.add_iteration_stats(stats)

    def __len__(self) -> int:
        return len(self.iteration_stats)

    def __eq__(self, other: object) -> bool:
        # Through xarray: unrecorded values are NaN, and NaN must equal NaN here.
        return isinstance(other, TrainingStats) and self.to_xarray().identical(other.to_xarray())

    def __repr__(self) -> str:
        return f"TrainingStats({len(self)} steps, trained_until={self.trained_until()})"

    def add_iteration_stats(self, iteration_stats: TrainingIterationStats) -> None:
        """Append; a step at or before the last one replaces everything from that step on
        (a re-trained step supersedes the old one, earlier steps are kept)."""
        if self.iteration_stats and iteration_stats.iteration <= self.iteration_stats[-1].iteration:
            logger.warning(
                "training stats: step %d repeated (last was %d); replacing from step %d on",
                iteration_stats.iteration,
                self.iteration_stats[-1].iteration,
                iteration_stats.iteration,
            )
            self.delete_after(iteration_stats.iteration)
        self.iteration_stats.append(iteration_stats)

    def delete_after(self, iteration: int) -> None:
        """Keep only steps before `iteration`."""
        self.iteration_stats = [s for s in self.iteration_stats if s.iteration < iteration]

    def trained_until(self) -> int:
        """Number of steps done: last step index + 1, or 0 when empty."""
        return self.iteration_stats[-1].iteration + 1 if self.iteration_stats else 0

    @classmethod
    def concat(cls, stats_list: Iterable[TrainingStats]) -> TrainingStats:
        """Join per-chunk stats in the given order (later chunks win on repeated steps)."""
        joined = cls()
        for stats in stats_list:
            for iteration_stats in stats.iteration_stats:
                joined.add_iteration_stats(iteration_stats)
        return joined

    # --- xarray / netCDF ------------------------------------------------------------------

    def to_xarray(self) -> xr.DataArray:
        """Losses along dim "iterations" (step indices), with per-step coordinates "time"
        (compute seconds), "data_wait" (seconds waiting for the batch) and "learning_rate"."""
        iterations = np.array([s.iteration for s in self.iteration_stats], dtype=np.int64)
        coords = {"iterations": iterations}
        for name in _PER_STEP:
            values = [getattr(s, name) for s in self.iteration_stats]
            coords[name] = ("iterations", np.array(values, dtype=np.float64))
        return xr.DataArray(
            np.array([s.loss for s in self.iteration_stats], dtype=np.float64),
            dims="iterations",
            coords=coords,
            name="loss",
        )

    @classmethod
    def from_xarray(cls, data: xr.DataArray) -> TrainingStats:
        iterations = data["iterations"].values
        missing = np.full(len(iterations), np.nan)
        per_step = [data[n].values if n in data.coords else missing for n in _PER_STEP]
        return cls(
            TrainingIterationStats(int(i), float(loss), *(float(v) for v in values))
            for i, loss, *values in zip(iterations, data.values, *per_step)
        )

    def to_netcdf(self, path: str | os.PathLike) -> None:
        atomic_write_netcdf(self.to_xarray(), path)

    @classmethod
    def from_netcdf(cls, path: str | os.PathLike) -> TrainingStats:
        try:
            data = xr.load_dataarray(path, engine="h5netcdf")
        except FileNotFoundError:
            raise FileNotFoundError(f"training stats {os.fspath(path)} do not exist") from None
        except Exception as error:
            raise ValueError(f"training stats {os.fspath(path)} are unreadable: {error}") from error
        if data.dims != ("iterations",):
            raise ValueError(f"training stats {os.fspath(path)} have dims {data.dims}")
        return cls.from_xarray(data)
