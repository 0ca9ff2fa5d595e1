"""The training loop proper: one optimizer step per batch (`Stepper`, with the trainer's GPU
knobs) and the loop over a chunk's batches with its stats and progress log
(`run_iterations`). `training.py` orchestrates a chunk around it: start, resume, data,
pre-emption, checkpoint."""

import math
import time

import torch
from tqdm import tqdm

from .data.prefetch import PrefetchWorkerError
from .devices import autocast, memory_format, to_device
from .run import Run
from .stats.training_stats import TrainingIterationStats, TrainingStats


class TrainingError(RuntimeError):
    """Training cannot continue; nothing is written for the chunk."""


def run_iterations(
    run: Run, batches, device, total: int, progress=True, previous=None, stepper=None, stop=()
):
    """The training loop proper: one optimizer step per batch, stats per step (compute time,
    time spent waiting for the batch, learning rate), it/s and data-wait % in the log. Ends
    early, at a step boundary, once `stop` is truthy (a StopRequest)."""
    stepper = stepper or Stepper(run, device)
    stats = TrainingStats()
    bar = tqdm(total=total, desc=f"{run.name}", disable=not progress, mininterval=2.0)
    waited = computed = 0.0
    batches = iter(batches)
    for _ in range(total):
        if stop:
            break
        ready = time.perf_counter()
        try:
            step, batch = next(batches)
        except PrefetchWorkerError:
            if stop:  # a worker still starting up was hit by the stop signal too
                break
            raise
        started = time.perf_counter()
        learning_rate = run.optimizer.param_groups[0]["lr"]
        loss = stepper.step(batch)
        if not math.isfinite(loss):
            raise TrainingError(
                f"run {run.name!r}: loss is {loss} at iteration {step}; no checkpoint "
                f"written (last good checkpoint: {previous or 'none'})"
            )
        done = time.perf_counter()
        stats.add_iteration_stats(
            TrainingIterationStats(step, loss, done - started, started - ready, learning_rate)
        )
        waited += started - ready
        computed += done - started
        bar.update()
        wait = 100 * waited / max(waited + computed, 1e-12)
        bar.set_postfix(loss=f"{loss:.4g}", data_wait=f"{wait:.0f}%", refresh=False)
    bar.close()
    return stats


class Stepper:
    """One optimizer step on a batch, with the trainer's GPU knobs: autocast precision (and a
    gradient scaler for float16), channels-last memory format, torch.compile. With the
    defaults it is the plain float32 step."""

    def __init__(self, run: Run, device: torch.device):
        trainer = run.config.trainer_config
        self.run, self.device = run, device
        self.precision = trainer.precision
        self.channels_last = trainer.channels_last
        if self.channels_last:
            # A conv weight has the batch's number of dims (5 for 3D, 4 for 2D).
            ndim = max(p.ndim for p in run.model.parameters())
            run.model.to(memory_format=memory_format(ndim))
        # Compiled for the steps only: run.model (and its state-dict keys) stay as they are.
        self.forward = torch.compile(run.model) if trainer.compile else run.model
        self.scaler = None
        if self.precision == "float16":
            self.scaler = torch.amp.GradScaler(device.type)
            saved = (getattr(run, "sampler_state", None) or {}).get("grad_scaler")
            if saved:
                self.scaler.load_state_dict(saved)

    def sampler_state(self, iteration: int) -> dict:
        """The checkpoint's "sampler" entry; it also carries the gradient scaler's state."""
        state = {"seed": self.run.seed, "iteration": iteration}
        if self.scaler is not None:
            state["grad_scaler"] = self.scaler.state_dict()
        return state

    def step(self, batch: dict) -> float:
        run = self.run
        raw, target, weight = (
            to_device(batch[key], self.device, self.channels_last)
            for key in ("raw", "target", "weight")
        )
        run.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            prediction = self.forward(raw)
        # The loss in float32: reductions over a whole batch lose too much in half precision.
        loss = run.task.loss(prediction.float(), target, weight)
        if self.scaler is None:
            loss.backward()
            run.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(run.optimizer)
            self.scaler.update()
        run.lr_scheduler.step()
        return loss.item()


def train_step(run: Run, batch: dict, device: torch.device) -> float:
    """One plain float32 step (the trainer's knobs are applied by Stepper)."""
    return Stepper(run, device).step(batch)
