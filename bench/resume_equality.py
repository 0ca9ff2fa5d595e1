"""Chunked training == one uninterrupted chunk, bit for bit, through the jobs' own command.

Trains a copy of a run config (default: the example's distance run, shortened) twice with
`dacapo-flow train-chunk`: once 0 -> 2N in one chunk, once 0 -> N -> 2N in two, and compares
the final model, optimizer and scheduler states. On the CPU this holds at equal thread counts;
on CUDA only with `deterministic: true` (README, "Training on GPUs"). The device is
$DACAPO_FLOW_DEVICE (default: CUDA when present).

    python bench/resume_equality.py [--steps 20] [--deterministic] [--precision bfloat16]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from dacapo_flow.data.synthetic import write_synthetic_dataset

EXAMPLE_DATA = Path("data/synthetic")


def config_copy(source: Path, folder: Path, name: str, steps: int, interval: int, trainer) -> Path:
    config = yaml.safe_load(source.read_text())
    config.update(name=name, num_iterations=steps, validation_interval=interval)
    config["trainer_config"] = {**config.get("trainer_config", {}), **trainer}
    path = folder / f"{name}_every{interval}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train(config: Path, iteration: int, out: Path, previous: Path | None, threads: int) -> None:
    command = [sys.executable, "-m", "dacapo_flow.cli", "train-chunk", "--run-config", config]
    command += ["--iteration", str(iteration), "--out", out, "--stats-out", f"{out}.nc"]
    command += ["--threads", str(threads), "--no-progress"]
    command += ["--previous", previous] if previous else []
    subprocess.run([str(c) for c in command], check=True)


def differences(a, b, where: str = "") -> list[str]:
    """Where two checkpoint parts differ (tensors bit for bit), with the largest |a - b|."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys differ"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}/{i}")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if torch.equal(a, b):
            return []
        if a.is_floating_point() and a.shape == b.shape:
            return [f"{where}: max |diff| {(a.double() - b.double()).abs().max().item():.3g}"]
        return [f"{where}: differs"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/runs/distance.yaml"))
    parser.add_argument("--steps", type=int, default=20, help="N: chunks of N and one of 2N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, both runs")
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    if not (EXAMPLE_DATA / "manifest.json").exists():
        write_synthetic_dataset(EXAMPLE_DATA)
    trainer = {"deterministic": args.deterministic, "precision": args.precision}
    n = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        whole = config_copy(args.config, tmp, "resume_check", 2 * n, 2 * n, trainer)
        chunked = config_copy(args.config, tmp, "resume_check", 2 * n, n, trainer)
        train(whole, 2 * n, tmp / "whole.pt", None, args.threads)
        train(chunked, n, tmp / "first.pt", None, args.threads)
        train(chunked, 2 * n, tmp / "second.pt", tmp / "first.pt", args.threads)
        a = torch.load(tmp / "whole.pt", weights_only=True)
        b = torch.load(tmp / "second.pt", weights_only=True)
    found = [
        d
        for part in ("model", "optimizer", "scheduler")
        for d in differences(a[part], b[part], part)
    ]
    device = os.environ.get("DACAPO_FLOW_DEVICE", "auto")
    print(
        f"device {device}, deterministic {args.deterministic}, precision {args.precision}, "
        f"0->{2 * n} vs 0->{n}->{2 * n}"
    )
    print("bit-exact: yes" if not found else f"bit-exact: no ({len(found)} tensors differ)")
    for line in found[:10]:
        print(f"  {line}")
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main())
