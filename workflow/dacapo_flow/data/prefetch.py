"""Compute training batches ahead of the model in background worker processes.

Workers are started with the "spawn" context: the parent has torch (and maybe CUDA) loaded,
and forking such a process is unsafe. Entry scripts must therefore guard their top level with
``if __name__ == "__main__":`` (console-script entry points do). Since BatchSampler.sample(i)
depends on i only, any worker can compute any iteration; the parent hands out iterations at
most ``depth`` ahead of the consumer and yields results in iteration order.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
import traceback
import weakref

from dacapo_flow.data.batch_transport import discard, pack, unpack

WAIT_POLL_S = 0.1  # how often a waiting parent checks that its workers are still alive
SHUTDOWN_GRACE_S = 2.0  # time given to workers to exit on their own before kill()


class PrefetchWorkerError(RuntimeError):
    """A prefetch worker failed; the message carries the worker's traceback text."""


def _worker_loop(sampler, tasks, results, stop, parent: int) -> None:
    # Ctrl-C, and the SIGTERM/SIGUSR1 of a preemption, reach the whole process group (or
    # job step); the parent decides when workers stop: it finishes its step, saves its state
    # and shuts them down (a worker killed first would look like a crash).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    # One thread each: the processes share the job's cores with the training threads.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    while True:
        try:
            iteration = tasks.get(timeout=WAIT_POLL_S * 10)
        except queue.Empty:
            if os.getppid() != parent:  # parent gone (killed): nobody will stop us
                # nor read our last batch: exit without waiting to flush it into the pipe.
                results.cancel_join_thread()
                return
            continue
        if iteration is None or stop.is_set():
            return
        try:
            batch = sampler.sample(iteration)
        except Exception:  # noqa: BLE001 - any failure goes to the parent, with its traceback
            results.put((iteration, None, traceback.format_exc()))
        else:
            results.put((iteration, pack(batch), None))


def _shutdown(workers, tasks, results, stop) -> None:
    """Stop workers (gracefully, then by force) and reap them; safe to call twice."""
    stop.set()
    for _ in workers:
        try:
            tasks.put_nowait(None)
        except (ValueError, OSError, queue.Full):  # queue already closed
            break
    deadline = time.monotonic() + SHUTDOWN_GRACE_S
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        # A worker cannot exit while its last batch is stuck in the pipe: drain it.
        try:
            _, packed, _ = results.get(timeout=0.02)
        except (queue.Empty, ValueError, OSError, EOFError):
            continue
        discard(packed)
    for worker in workers:
        if worker.is_alive():
            worker.kill()  # SIGTERM is ignored by workers
    for worker in workers:
        worker.join()
    while True:  # batches that arrived after the last worker exited
        try:
            _, packed, _ = results.get(timeout=0.02)
        except (queue.Empty, ValueError, OSError, EOFError):
            break
        discard(packed)
    for q in (tasks, results):
        q.cancel_join_thread()  # never block interpreter exit on unsent items
        q.close()


class Prefetcher:
    """Iterate (iteration, batch) for start_iteration .. stop_iteration - 1, in order.

    num_workers=0 computes each batch synchronously when asked. Otherwise up to `depth`
    iterations are computed ahead by worker processes. A worker exception is raised here as
    PrefetchWorkerError (with the worker's traceback) when its iteration is reached. close()
    (also on leaving a `with` block, exhausting the iterator, or garbage collection) stops and
    reaps the workers."""

    def __init__(
        self,
        sampler,
        start_iteration: int,
        stop_iteration: int,
        num_workers: int = 2,
        depth: int = 4,
        context: str = "spawn",
    ):
        if num_workers < 0 or depth < 1:
            raise ValueError(f"num_workers {num_workers} must be >= 0 and depth {depth} >= 1")
        self.sampler = sampler
        self.stop_iteration = int(stop_iteration)
        self.depth = int(depth)
        self._next = int(start_iteration)
        self._submitted = self._next
        self._ready: dict[int, tuple] = {}
        self._workers: list = []
        self._finalizer = None
        if num_workers == 0 or self._next >= self.stop_iteration:
            return
        ctx = multiprocessing.get_context(context)
        self._tasks, self._results, self._stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        for index in range(num_workers):
            worker = ctx.Process(
                target=_worker_loop,
                args=(sampler, self._tasks, self._results, self._stop, os.getpid()),
                name=f"dacapo-flow-prefetch-{index}",
                daemon=True,
            )
            worker.start()
            self._workers.append(worker)
        self._finalizer = weakref.finalize(
            self, _shutdown, self._workers, self._tasks, self._results, self._stop
        )
        self._submit_ahead()

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    def __iter__(self):
        return self

    def __next__(self):
        iteration = self._next
        if iteration >= self.stop_iteration:
            self.close()
            raise StopIteration
        if not self._workers:
            batch = self.sampler.sample(iteration)
        else:
            if self._finalizer is None or not self._finalizer.alive:
                raise RuntimeError("Prefetcher is closed")
            self._submit_ahead()
            while iteration not in self._ready:
                self._receive()
            batch, error = self._ready.pop(iteration)
            if error is not None:
                self.close()
                raise PrefetchWorkerError(
                    f"prefetch worker failed at iteration {iteration}:\n{error}"
                )
        self._next += 1
        return iteration, batch

    def _submit_ahead(self) -> None:
        limit = min(self.stop_iteration, self._next + self.depth)
        while self._submitted < limit:
            self._tasks.put(self._submitted)
            self._submitted += 1

    def _receive(self) -> None:
        try:
            iteration, packed, error = self._results.get(timeout=WAIT_POLL_S)
        except queue.Empty:
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                self.close()
                codes = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
                raise PrefetchWorkerError(f"prefetch worker(s) died unexpectedly: {codes}")
            return
        self._ready[iteration] = (None if packed is None else unpack(packed), error)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._ready.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
