"""Progress lines of a blockwise job: blocks done, blocks/s and an ETA, every `every_s`
seconds while it runs (from a background thread, so a slow block cannot silence it) and once
at the end, with the time taken. What the Snakemake log of a shard shows.

    with BlockRate("predict", total=450, done=30) as rate:
        for block in todo:
            ...
            rate.tick()
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """'42s', '3m07s', '2h05m'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class BlockRate:
    """Counts blocks (`tick`, thread-safe) and logs progress; use as a context manager."""

    def __init__(self, what: str, total: int, done: int = 0, every_s: float = 10.0):
        self.what, self.total, self.every_s = what, total, every_s
        self.resumed = self.done = done
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{what}-progress", daemon=True)
        self._start = time.monotonic()

    def __enter__(self):
        resumed = f" ({self.resumed} done before)" if self.resumed else ""
        logger.info("%s: %d of %d blocks to do%s", self.what, self.todo, self.total, resumed)
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self._start
        new = self.done - self.resumed
        rate = new / elapsed if elapsed > 0 else 0.0
        state = "done" if self.done >= self.total else "stopped"
        logger.info(
            "%s: %s, %d/%d blocks, %d new in %s (%.2f blocks/s)",
            self.what,
            state,
            self.done,
            self.total,
            new,
            duration(elapsed),
            rate,
        )

    @property
    def todo(self) -> int:
        return self.total - self.done

    def tick(self, blocks: int = 1) -> None:
        with self._lock:
            self.done += blocks

    def line(self) -> str:
        """'predict: 120/450 blocks, 2.31 blocks/s, ETA 2m23s'."""
        elapsed = time.monotonic() - self._start
        with self._lock:
            done, new = self.done, self.done - self.resumed
        rate = new / elapsed if elapsed > 0 else 0.0
        eta = duration((self.total - done) / rate) if rate > 0 else "unknown"
        return f"{self.what}: {done}/{self.total} blocks, {rate:.2f} blocks/s, ETA {eta}"

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            logger.info(self.line())
