"""Model-only training step time: forward, loss, backward and optimizer step on tensors that
are already on the device (no data loading), with the trainer's knobs, and the achieved
TFLOPS (FLOPs counted once by torch's FlopCounterMode).

    python bench/model_throughput.py [--config config/runs/distance.yaml] [--preset dacapo]
        [--batch 2] [--precision bfloat16] [--channels-last] [--compile] [--steps 10]

--preset dacapo: the CNNectome U-Net at the DaCapo size (196³ -> 104³, fmaps 12, x6, three
2x downsamplings): for a GPU; on a CPU one step takes minutes.
"""

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.devices import configure_backends, select_device
from dacapo_flow.run import Run
from dacapo_flow.training_loop import Stepper

DACAPO_NET = {
    "input_shape": [196, 196, 196],
    "num_fmaps": 12,
    "fmap_inc_factor": 6,
    "fmaps_out": 12,
    "downsample_factors": [[2, 2, 2]] * 3,
}


def build_run(args) -> Run:
    config = load_run_config(args.config)
    data = config.model_dump(mode="json")
    if args.preset == "dacapo":
        data["architecture_config"].update(DACAPO_NET)
    trainer = data["trainer_config"]
    trainer.update(precision=args.precision, channels_last=args.channels_last)
    trainer.update(compile=args.compile, cudnn_benchmark=args.cudnn_benchmark)
    if args.batch:
        trainer["batch_size"] = args.batch
    return Run(RunConfig.model_validate(data))


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/runs/distance.yaml")
    parser.add_argument("--preset", choices=["example", "dacapo"], default="example")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)

    run = build_run(args)
    trainer = run.config.trainer_config
    configure_backends(trainer, device)
    run.model.to(device).train()
    stepper = Stepper(run, device)
    batch_size = trainer.batch_size
    channels = run.model.num_out_channels
    batch = {
        "raw": torch.rand(batch_size, 1, *run.model.input_shape),
        "target": torch.rand(batch_size, channels, *run.model.output_shape) * 2 - 1,
        "weight": torch.ones(batch_size, channels, *run.model.output_shape),
    }
    with FlopCounterMode(display=False) as counter:
        stepper.step(batch)
    flops = counter.get_total_flops()
    for _ in range(args.warmup):
        stepper.step(batch)
    times = []
    for _ in range(args.steps):
        synchronize(device)
        start = time.perf_counter()
        stepper.step(batch)  # .item() inside: waits for the step, as training does
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    print(
        f"device {device}, threads {torch.get_num_threads()}, precision {trainer.precision}, "
        f"channels_last {trainer.channels_last}, compile {trainer.compile}"
    )
    print(
        f"model {args.preset}: input {tuple(run.model.input_shape)} -> output "
        f"{tuple(run.model.output_shape)}, batch {batch_size}, "
        f"{sum(p.numel() for p in run.model.parameters()) / 1e6:.2f} M parameters"
    )
    print(f"step {step * 1000:.1f} ms (median of {args.steps}), {1 / step:.2f} it/s")
    print(f"{flops / 1e12:.3f} TFLOP per step, {flops / step / 1e12:.3f} TFLOPS achieved")


if __name__ == "__main__":
    main()
