"""Memory and throughput of one prediction shard.

Memory: peak RSS of a shard process (plan, model, all blocks) for a 128^3 and a 512^3 input,
each in its own subprocess; memory is bounded by a few blocks, so the ratio should stay near 1
(goal <= 1.2). Throughput: blocks/s of the shard (reading, padding, writing zarr, checksums,
manifest, all overlapped) vs pure forward passes on ready tensors of the same shape (goal >= 0.9).

    python bench/predict_memory.py [--sizes 128 512] [--eval-increase 64] [--fmaps 4] [--device auto]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_inputs(root: Path, sizes, fmaps: int, eval_increase: int) -> Path:
    """Synthetic training data (for the run config only), a run config, untrained weights,
    a best JSON, and one raw volume per size."""
    import yaml
    from funlib.geometry import Roi

    from dacapo_flow.config.run_config import RunConfig
    from dacapo_flow.data.arrays import create_array
    from dacapo_flow.data.synthetic import write_synthetic_dataset
    from dacapo_flow.run import Run
    from dacapo_flow.store.atomic import atomic_write_json
    from dacapo_flow.store.weights import Weights, save_checkpoint

    data = root / "data"
    write_synthetic_dataset(data, seed=0, shape=(32, 32, 32))
    entry = {
        "name": "validate_0",
        "raw": {"path": str(data / "validate_0.zarr"), "dataset": "raw"},
        "gt": {"path": str(data / "validate_0.zarr"), "dataset": "labels"},
    }
    config = {
        "name": "bench",
        "num_iterations": 1,
        "task_config": {"type": "distance", "channels": ["mito"]},
        "architecture_config": {
            "type": "cnnectome_unet",
            "input_shape": [20, 20, 20],
            "fmaps_out": fmaps,
            "num_fmaps": fmaps,
            "fmap_inc_factor": 2,
            "downsample_factors": [[2, 2, 2]],
            "eval_shape_increase": [eval_increase] * 3,
        },
        "trainer_config": {"batch_size": 1, "learning_rate": 1e-3},
        "datasplit_config": {
            "label_ids": {"mito": [1]},
            "train_configs": [{**entry, "name": "train_0"}],
            "validate_configs": [entry],
        },
    }
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    run = Run(RunConfig.model_validate(config))
    save_checkpoint(
        Weights(run.model.state_dict(), None, iteration=1, head_labels=run.head_labels),
        root / "best.pt",
    )
    best = {"iteration": 1, "parameters": {"threshold": 0.0}, "criterion": "mito__dice"}
    atomic_write_json(root / "best.json", {**best, "dataset": "validate_0", "score": 0.0})
    rng = np.random.default_rng(0)
    for size in sizes:
        array = create_array(
            root / f"raw_{size}.zarr", "raw", (size,) * 3, np.uint8, (4,) * 3, (0,) * 3, (64,) * 3
        )
        for z in range(0, size, 64):  # slab by slab: the parent stays small too
            slab = rng.integers(0, 256, (min(64, size - z), size, size), dtype=np.uint8)
            array.write(Roi((z * 4, 0, 0), (slab.shape[0] * 4, size * 4, size * 4)), slab)
    return root


def pure_forward_s(model, plan, device, count: int) -> float:
    """Seconds for `count` forward passes on inputs already on the device (after a warm-up,
    as the shard's first block is one)."""
    import torch

    from dacapo_flow.predict.shard import autocast

    ready = [torch.rand((1, 1, *plan.input_shape), device=device) for _ in range(2)]
    with torch.inference_mode(), autocast(device, plan.target["precision"]):
        model(ready[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(count):
            model(ready[i % 2]).float().cpu()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def child(root: Path, size: int, device_name: str, pure_blocks: int) -> dict:
    """One shard over the whole `size`^3 volume between two runs of pure forward passes; in its own
    process so that its peak RSS is the shard's."""
    import torch

    from dacapo_flow.config.loading import load_run_config
    from dacapo_flow.config.predictions import PredictionTarget
    from dacapo_flow.devices import select_device
    from dacapo_flow.predict.prepare import load_model, prepare
    from dacapo_flow.predict.shard import run_predict_shard

    torch.set_num_threads(1)
    device = select_device(device_name)
    out = root / f"out_{size}"
    target = PredictionTarget.model_validate(
        {
            "name": f"bench_{size}",
            "run": "bench",
            "criterion": "mito__dice",
            "input": {"path": str(root / f"raw_{size}.zarr"), "dataset": "raw"},
        }
    )
    run_config = load_run_config(root / "run.yaml", verify=False)
    plan = prepare(
        run_config, root / "best.pt", root / "best.json", target, out / "o.zarr", out / "p.json"
    )
    model, _ = load_model(run_config, root / "best.pt")
    model.to(device)
    count = min(pure_blocks, -(-plan.grid.num_blocks // 2))
    before = pure_forward_s(model, plan, device, count)
    start = time.perf_counter()
    assert run_predict_shard(plan, model, device, 0, 1, out / "s.json", out / "s.progress.json")
    if device.type == "cuda":
        torch.cuda.synchronize()
    shard_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = pure_forward_s(model, plan, device, count)
    blocks = plan.grid.num_blocks
    # A shared machine drifts: the pure time is the mean of one run before and one after.
    pure_s = (before + after) / 2 * blocks / count
    return {
        "size": size,
        "device": str(device)
        + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        "blocks": blocks,
        "block_shape": plan.block_shape,
        "input_shape": plan.input_shape,
        "peak_rss_mb": round(rss_mb, 1),
        "shard_blocks_per_s": round(blocks / shard_s, 3),
        "pure_blocks_per_s": round(blocks / pure_s, 3),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--fmaps", type=int, default=4)
    parser.add_argument("--eval-increase", type=int, default=64, help="eval input = 20 + this")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pure-blocks", type=int, default=32, help="passes timed, twice")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.dir, args.child, args.device, args.pure_blocks)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = write_inputs(Path(tmp), args.sizes, args.fmaps, args.eval_increase)
        results = []
        for size in args.sizes:
            command = [sys.executable, __file__, "--child", str(size), "--dir", str(root)]
            command += ["--device", args.device, "--pure-blocks", str(args.pure_blocks)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                print(done.stdout + done.stderr, file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    print(f"device {results[0]['device']}")
    first, last = results[0], results[-1]
    print(
        f"peak RSS {first['size']}^3 {first['peak_rss_mb']} MB, {last['size']}^3 "
        f"{last['peak_rss_mb']} MB: ratio {last['peak_rss_mb'] / first['peak_rss_mb']:.2f} "
        "(goal <= 1.2)"
    )
    for r in results:
        ratio = r["shard_blocks_per_s"] / r["pure_blocks_per_s"]
        print(
            f"{r['size']}^3: {r['blocks']} blocks of {r['block_shape']}: shard "
            f"{r['shard_blocks_per_s']} blocks/s, pure forward {r['pure_blocks_per_s']} "
            f"blocks/s: throughput ratio {ratio:.2f} (goal >= 0.9)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
