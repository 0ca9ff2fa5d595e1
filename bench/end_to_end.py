"""End to end: the DaCapo anchor workload through `snakemake --cores 2`, against pure torch.

Our side of issue 21's anchor: DaCapo's 12x2-fmap CNNectome U-Net (two 2x downsamplings,
constant upsampling, valid padding), 76³ -> 36³, batch 2, a signed distance to one channel
`fg`, 200 iterations with validation every 100 (the run `peer_bench_stock2` of
/work/shared/reference/dacapo-parity, as `dacapo-flow import-dacapo` translates it). Its data is
not shipped: both datasets are synthetic volumes of `--shape`³ voxels (fg = the mito label).

The workflow (train chunks, validations, selection, report) runs in a fresh temporary
directory, timed from `snakemake` start to exit. The limit is the same number of optimizer
steps of the same model, batch and threads in a pure-torch loop on one ready batch (measured
here after the workflow). Prints `ratio <x>` = workflow wall / limit; goal <= 1.35.

    python bench/end_to_end.py [--iterations 200] [--cores 2] [--shape 128]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_ITEMS = ("Snakefile", "workflow", "profiles", "envs")
PARITY_STORE = ROOT.parent / "shared/reference/dacapo-parity/store"


def anchor_run(data: Path, iterations: int) -> dict:
    """peer_bench_stock2 as `dacapo-flow import-dacapo` translates it (the translation that
    tests/test_interop_dacapo_config.py checks), `iterations` long, on synthetic data."""
    from dacapo_flow.interop.dacapo_config import import_dacapo_run

    config, _ = import_dacapo_run(PARITY_STORE, "peer_bench_stock2")
    config["name"] = "anchor"
    config["num_iterations"] = iterations
    config["validation_interval"] = max(1, iterations // 2)
    config.pop("start_config", None)

    def entry(name, volume):
        zarr = str(data / f"{volume}.zarr")
        return {
            "name": name,
            "raw": {"path": zarr, "dataset": "raw", "min": 0, "max": 255},
            "gt": {"path": zarr, "dataset": "labels"},
        }

    config["datasplit_config"] = {
        "type": "train_validate",
        "name": "anchor",
        "label_ids": {"fg": [1]},
        "train_configs": [entry("train", "train_0")],
        "validate_configs": [entry("validate", "validate_0")],
    }
    return config


def install(work: Path, iterations: int, shape: int) -> Path:
    from dacapo_flow.data.synthetic import write_synthetic_dataset

    for item in WORKFLOW_ITEMS:
        source = ROOT / item
        if source.is_dir():
            ignore = shutil.ignore_patterns("dacapo_flow", "*.egg-info", "__pycache__")
            shutil.copytree(source, work / item, ignore=ignore)
        else:
            shutil.copy2(source, work / item)
    data = work / "data"
    write_synthetic_dataset(data, shape=(shape,) * 3)
    run = work / "config/runs/anchor.yaml"
    run.parent.mkdir(parents=True, exist_ok=True)
    run.write_text(yaml.safe_dump(anchor_run(data, iterations), sort_keys=False))
    config = {"store": "results/store", "runs": [{"config": "config/runs/anchor.yaml"}]}
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run


def run_workflow(work: Path, cores: int, no_slurm_probe: bool = False) -> tuple[float, str, float]:
    """(wall seconds, Snakemake's output, its start as epoch seconds)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if no_slurm_probe:  # an `scontrol` that fails at once, as where no SLURM client is set up
        shim = work / "no-slurm"
        shim.mkdir(exist_ok=True)
        (shim / "scontrol").write_text("#!/bin/sh\nexit 1\n")
        (shim / "scontrol").chmod(0o755)
        env["PATH"] = os.pathsep.join([str(shim), env["PATH"]])
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "all"]
    epoch = time.time()
    started = time.perf_counter()
    done = subprocess.run(
        command, check=False, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wall = time.perf_counter() - started
    output = done.stdout.decode()
    if done.returncode != 0:
        raise SystemExit(f"snakemake failed:\n{output[-4000:]}")
    return wall, output, epoch


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def first_job_seconds(output: str, started: float) -> float | None:
    """Seconds from `snakemake` start (epoch `started`) to its first job (1 s resolution)."""
    for line in output.splitlines():
        if match := _STAMP.match(line.strip()):
            stamp = time.mktime(time.strptime(match.group(1), "%a %b %d %H:%M:%S %Y"))
            return stamp - started
    return None


def slurm_probe_seconds() -> float | None:
    """What the SLURM executor plugin's import costs every `snakemake` call: it runs
    `scontrol show config` (plugin 2.8, for its status-command default). Instant where no
    SLURM client is installed or a controller answers; a 9 s timeout where a client is
    configured for a controller that is down (this machine's stopped test cluster)."""
    if shutil.which("scontrol") is None:
        return None
    started = time.perf_counter()
    subprocess.run(["scontrol", "show", "config"], capture_output=True, check=False, timeout=60)
    return time.perf_counter() - started


def job_seconds(output: str) -> dict[str, list[float]]:
    """Seconds per job of each rule, from Snakemake's timestamped log (1 s resolution)."""
    stamp, rule, started, per_rule = None, None, {}, {}
    for line in output.splitlines():
        if match := _STAMP.match(line.strip()):
            stamp = time.mktime(time.strptime(match.group(1), "%a %b %d %H:%M:%S %Y"))
        elif match := _RULE.match(line):
            rule = match.group(1)
        elif (match := _JOBID.match(line)) and rule is not None:
            started[match.group(1)] = stamp
            rule = None
        elif (match := _FINISHED.match(line.strip())) and match.group(1) in started:
            seconds = stamp - started.pop(match.group(1))
            per_rule.setdefault(match.group(2), []).append(seconds)
    return per_rule


def pure_torch_seconds(config_file: Path, threads: int, steps: int) -> float:
    """Seconds for `steps` optimizer steps of the run's model on one ready batch."""
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import time_pure_torch

    from dacapo_flow.config.loading import load_run_config
    from dacapo_flow.devices import configure_backends
    from dacapo_flow.run import Run
    from dacapo_flow.training import build_sampler

    torch.set_num_threads(threads)
    config = load_run_config(config_file)
    device = torch.device("cpu")
    configure_backends(config.trainer_config, device)
    run = Run(config)
    run.model.train()
    batch = build_sampler(run).sample(0)
    return steps / time_pure_torch(run, batch, device, warmup=2, iterations=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shape", type=int, default=128, help="edge of each synthetic volume")
    parser.add_argument("--keep", type=Path, help="run here and keep it (default: a temp dir)")
    parser.add_argument(
        "--no-slurm-probe",
        action="store_true",
        help="put an `scontrol` that fails at once first on the workflow's PATH: Snakemake then "
        "starts as on a machine without a SLURM client (see slurm_probe_seconds)",
    )
    args = parser.parse_args()
    threads = 2  # the train_chunk rule's threads, which --cores 2 leaves as they are
    with tempfile.TemporaryDirectory(prefix="end-to-end-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        config = install(work, args.iterations, args.shape)
        load = os.getloadavg()[0]
        wall, output, epoch = run_workflow(work, args.cores, args.no_slurm_probe)
        limit = pure_torch_seconds(config, threads, args.iterations)
        after = os.getloadavg()[0]
        probe = slurm_probe_seconds()
    print(
        f"{args.iterations} iterations, validation every {max(1, args.iterations // 2)}, "
        f"--cores {args.cores}, load average {load:.2f} before / {after:.2f} after"
    )
    for rule, seconds in sorted(job_seconds(output).items()):
        print(f"  {rule}: {len(seconds)} jobs, {' + '.join(f'{s:.0f}' for s in seconds)} s")
    first = first_job_seconds(output, epoch)
    if first is not None:
        print(f"  snakemake start-up (to the first job): {first:.0f} s")
    print(f"workflow {wall:.1f} s, pure torch {limit:.1f} s for the same steps")
    print(f"ratio {wall / limit:.2f} (goal <= 1.35)")
    if args.no_slurm_probe:
        print("  (run with --no-slurm-probe: scontrol failed at once for Snakemake)")
    elif probe is not None and probe > 1:
        print(
            f"  of which {probe:.1f} s is the SLURM plugin's `scontrol show config` timing out "
            f"(a SLURM client here, its controller down): without it, ratio "
            f"{(wall - probe) / limit:.2f}"
        )


if __name__ == "__main__":
    main()
