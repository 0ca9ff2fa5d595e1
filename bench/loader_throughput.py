"""Loader-only throughput: batches/s of the training sampler (crop, augment, target), per
worker process, for each example task at the example's shapes and at a DaCapo-size input
(196³ -> 104³, batch 2), with 1, 2, 4 workers; then how many workers a model step time needs.

No model runs (nnU-Net's `_noDataLoading` pattern, turned around): if a GPU step of the model
takes `--step-ms`, the loader must deliver 1000 / step_ms batches/s to keep the GPU busy.

    python bench/loader_throughput.py [--workers 1 2 4] [--batches 12] [--step-ms 16 35]
"""

import argparse
import math
import time
from pathlib import Path

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.augment import build_augment
from dacapo_flow.data.prefetch import Prefetcher
from dacapo_flow.data.sampling import BatchSampler, SamplerDataset
from dacapo_flow.data.synthetic import write_synthetic_dataset
from dacapo_flow.run import Run

CONFIGS = ("config/runs/distance.yaml", "config/runs/affinities.yaml")
EXAMPLE_DATA = Path("data/synthetic")
LARGE_DATA = Path("data/synthetic_large")  # DaCapo-size crops need a volume above 104³
LARGE_SHAPE = (128, 128, 128)


def sampler_for(config, data_dir: Path, input_shape=None, output_shape=None, batch=None):
    """The sampler train_chunk builds for `config`, optionally at other shapes / data."""
    run = Run(config)
    trainer = config.trainer_config

    def moved(array_config):
        return open_array(data_dir / Path(array_config.path).name, array_config.dataset)

    datasets = [
        SamplerDataset(
            raw=moved(d.raw),
            gt=moved(d.gt),
            mask=moved(d.mask) if d.mask else None,
            weight=d.weight,
            raw_min=d.raw.min,
            raw_max=d.raw.max,
        )
        for d in config.datasplit_config.train_configs
    ]
    return BatchSampler(
        datasets,
        input_shape=input_shape or run.model.input_shape,
        output_shape=output_shape or run.model.output_shape,
        batch_size=batch or trainer.batch_size,
        seed=run.seed,
        target_fn=run.task.target,
        augment=build_augment([a.model_dump(mode="json") for a in trainer.augments]),
    )


def batches_per_second(sampler, workers: int, count: int) -> float:
    """Steady-state rate over `count` batches. One batch in flight per worker, and the first
    `workers` batches (process start-up, and what was computed before timing) not timed."""
    warmup = max(workers, 1)
    with Prefetcher(sampler, 0, warmup + count, num_workers=workers, depth=warmup) as it:
        for _ in range(warmup):
            next(it)
        start = time.perf_counter()
        for _ in range(count):
            next(it)
        return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--batches", type=int, default=16, help="timed batches, example")
    parser.add_argument("--large-batches", type=int, default=8, help="timed batches, 196³")
    parser.add_argument("--step-ms", nargs="+", type=float, default=[16.0, 35.0])
    parser.add_argument("--skip-large", action="store_true", help="example shapes only")
    args = parser.parse_args()

    if not (EXAMPLE_DATA / "manifest.json").exists():
        write_synthetic_dataset(EXAMPLE_DATA)
    if not args.skip_large and not (LARGE_DATA / "manifest.json").exists():
        write_synthetic_dataset(LARGE_DATA, shape=LARGE_SHAPE)

    print(
        f"{'task':<12} {'input->output':<16} {'batch':>5} {'workers':>7} "
        f"{'batches/s':>9} {'per worker':>10}"
    )
    for path in args.configs:
        config = load_run_config(path)
        settings = [(args.batches, EXAMPLE_DATA, None, None, None)]
        if not args.skip_large:
            settings.append((args.large_batches, LARGE_DATA, (196,) * 3, (104,) * 3, 2))
        for count, data, in_shape, out_shape, batch in settings:
            sampler = sampler_for(config, data, in_shape, out_shape, batch)
            per_worker = []
            for workers in args.workers:
                rate = batches_per_second(sampler, workers, count)
                per_worker.append(rate / workers)
                shape = f"{sampler.input_shape[0]}³->{sampler.output_shape[0]}³"
                print(
                    f"{config.task_config.type:<12} {shape:<16} {sampler.batch_size:>5} "
                    f"{workers:>7} {rate:>9.2f} {rate / workers:>10.2f}"
                )
            best = max(per_worker)  # per-worker rate without contention for cores
            for step_ms in args.step_ms:
                need = math.ceil(1000.0 / step_ms / best)
                print(
                    f"  a {step_ms:g} ms model step needs {1000 / step_ms:.1f} batches/s: "
                    f"{need} workers at {best:.2f} batches/s each"
                )


if __name__ == "__main__":
    main()
