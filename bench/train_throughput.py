"""Throughput of our training loop and validation vs. the pure-torch limit, in one process.

Training: iterations/s of dacapo-flow's loop (sampling, augmentation and targets computed by
background workers, the real train_step) vs. a pure-torch loop on ready tensors with the same
model, batch and optimizer. Validation: voxels/s of our blockwise prediction (reads, stitching)
vs. pure forward passes over the same blocks on ready tensors. Prints `ratio <x>` for training
and `validation ratio <y>`; goals: >= 0.9 and >= 0.8.

By default it runs at the settings of a `train_chunk` job: the rule's `threads` (read from
workflow/rules/train.smk, as `--threads` of train-chunk) and the data workers train_chunk
derives from them and the config's num_data_fetchers.

    python bench/train_throughput.py [--config config/runs/distance.yaml] [--iterations 60]
"""

import argparse
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.prefetch import Prefetcher
from dacapo_flow.data.sampling import SamplerDataset
from dacapo_flow.data.synthetic import write_synthetic_dataset
from dacapo_flow.devices import configure_backends, data_workers, select_device
from dacapo_flow.run import Run
from dacapo_flow.training import build_sampler
from dacapo_flow.training_loop import run_iterations
from dacapo_flow.validation import block_rois, predict_blockwise, prediction_block

RULE = Path(__file__).resolve().parents[1] / "workflow/rules/train.smk"


def rule_threads() -> int:
    """The `threads:` of the train_chunk rule, i.e. train-chunk's --threads in a local run."""
    found = re.search(r"rule train_chunk:.*?\n\s*threads:\s*(\d+)", RULE.read_text(), re.DOTALL)
    if not found:
        raise SystemExit(f"no threads: in rule train_chunk of {RULE}")
    return int(found.group(1))


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ours(run, sampler, device, warmup, iterations, workers) -> float:
    with Prefetcher(sampler, 0, warmup + iterations, num_workers=workers) as batches:
        batches = iter(batches)
        run_iterations(run, (next(batches) for _ in range(warmup)), device, warmup, False)
        synchronize(device)
        start = time.perf_counter()
        run_iterations(run, batches, device, iterations, False)
        synchronize(device)
        return iterations / (time.perf_counter() - start)


def time_pure_torch(run, batch, device, warmup, iterations) -> float:
    raw, target, weight = (
        torch.as_tensor(batch[k]).to(device) for k in ("raw", "target", "weight")
    )
    model, optimizer, loss_fn = run.model, run.optimizer, run.task.loss

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(raw), target, weight)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step().item()  # the same per-step sync our loop does for its NaN check
    synchronize(device)
    return iterations / (time.perf_counter() - start)


def time_validation(run, dataset_config, device, repeats) -> tuple[float, float]:
    dataset = SamplerDataset(
        raw=open_array(dataset_config.raw.path, dataset_config.raw.dataset),
        gt=open_array(dataset_config.gt.path, dataset_config.gt.dataset),
    )
    roi, voxel = dataset.gt.roi, dataset.gt.voxel_size
    shape = (run.model.num_out_channels, *(roi.shape / voxel))
    voxels = float(np.prod(shape[1:])) * repeats
    out = np.zeros(shape, dtype=np.float32)
    predict_blockwise(run.model, dataset, roi, device, out)  # warm-up
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        predict_blockwise(run.model, dataset, roi, device, out)
    ours = voxels / (time.perf_counter() - start)

    # The limit: bare forward passes of the blocks validation uses (prediction_block).
    in_shape, out_shape = prediction_block(run.model, roi.shape / voxel)
    blocks = len(block_rois(roi, out_shape * voxel))
    x = torch.rand((1, 1, *in_shape), device=device)
    with torch.inference_mode():
        run.model.eval()
        run.model(x)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(blocks * repeats):
            run.model(x).float().cpu()
        synchronize(device)
    pure = voxels / (time.perf_counter() - start)
    return ours, pure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/runs/distance.yaml"))
    parser.add_argument("--iterations", type=int, default=40, help="per round and loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, help="data workers (default: as train_chunk)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the rule's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--validation-repeats", type=int, default=2)
    args = parser.parse_args()
    threads = args.threads or rule_threads()
    torch.set_num_threads(threads)
    device = select_device(args.device)

    if not Path("data/synthetic/manifest.json").exists():
        write_synthetic_dataset(Path("data/synthetic"))
    config = load_run_config(args.config)
    workers = args.workers
    if workers is None:
        workers = data_workers(config.trainer_config.num_data_fetchers, threads, device)
    configure_backends(config.trainer_config, device)
    run = Run(config)
    run.model.to(device)
    sampler = build_sampler(run)
    batch = sampler.sample(0)
    run.model.train()
    # Alternate the two loops and take the median ratio, so drift of the machine's speed
    # (other processes, turbo) during the run favours neither.
    rounds = []
    for _ in range(args.rounds):
        pure = time_pure_torch(run, batch, device, args.warmup, args.iterations)
        ours = time_ours(run, sampler, device, args.warmup, args.iterations, workers)
        rounds.append((ours, pure))
    ours, pure = (statistics.median(r[i] for r in rounds) for i in (0, 1))
    print(f"device {device}, threads {torch.get_num_threads()}, data workers {workers}")
    print(
        f"model {config.name}: input {tuple(run.model.input_shape)}, batch "
        f"{config.trainer_config.batch_size}"
    )
    print(f"train ours {ours:.2f} it/s, pure torch {pure:.2f} it/s (medians of {args.rounds})")
    print(f"ratio {statistics.median(o / p for o, p in rounds):.3f}")
    v_ours, v_pure = time_validation(
        run, config.datasplit_config.validate_configs[0], device, args.validation_repeats
    )
    print(f"validation ours {v_ours:.0f} voxels/s, pure forward {v_pure:.0f} voxels/s")
    print(f"validation ratio {v_ours / v_pure:.3f}")


if __name__ == "__main__":
    main()
