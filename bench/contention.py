"""Slowdown of a training chunk when an identical chunk shares the machine.

Runs the example's `dacapo-flow train-chunk` exactly as the train_chunk rule does (its
`--threads`, read from workflow/rules/train.smk; the workers `num_data_fetchers: auto`
derives from them) for `--iterations` steps: first alone, then two at once. Prints the
seconds per step of each (from the chunk's own training stats, so start-up is left out),
and `slowdown <x>` = mean s/step of the pair / s/step alone. Two jobs of 2 threads on 2
cores ideally take 2x; the goal is <= 2.5x.

`--env KEY=VALUE` (repeatable) sets variables for every chunk, e.g. `--env
OMP_WAIT_POLICY=ACTIVE` to measure what the job would do without the workflow's setting.

    python bench/contention.py [--iterations 60] [--rounds 2] [--env KEY=VALUE ...]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "workflow/rules/train.smk"


def rule_threads() -> int:
    found = re.search(r"rule train_chunk:.*?\n\s*threads:\s*(\d+)", RULE.read_text(), re.DOTALL)
    if not found:
        raise SystemExit(f"no threads: in rule train_chunk of {RULE}")
    return int(found.group(1))


def prepare(work: Path, iterations: int) -> Path:
    """The example's distance run config, `iterations` steps, and its synthetic data."""
    subprocess.run(
        ["dacapo-flow", "synthetic-data", "--out", str(work / "data/synthetic")],
        check=True,
        capture_output=True,
    )
    config = yaml.safe_load((ROOT / "config/runs/distance.yaml").read_text())
    config["num_iterations"] = config["validation_interval"] = iterations
    path = work / "distance.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_chunk(work: Path, config: Path, iterations: int, tag: str, env: dict) -> tuple:
    out = work / tag
    shutil.rmtree(out, ignore_errors=True)
    command = ["dacapo-flow", "train-chunk", "--run-config", str(config)]
    command += ["--iteration", str(iterations), "--threads", str(rule_threads())]
    command += ["--out", str(out / "checkpoint"), "--stats-out", str(out / "stats.nc")]
    command += ["--no-progress"]
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return process, out / "stats.nc"


def seconds_per_step(process, stats: Path) -> float:
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"train-chunk failed: {err.decode()[-2000:]}")
    data = xr.load_dataarray(stats, engine="h5netcdf")
    # a step's wall time: compute plus waiting for its batch
    times = data["time"].values + data["data_wait"].values
    steps = times[len(times) // 5 :]  # the first fifth warms up (allocations, workers)
    return float(statistics.median(steps))


def measure(work: Path, config: Path, iterations: int, env: dict) -> tuple[float, float]:
    alone = seconds_per_step(*start_chunk(work, config, iterations, "alone", env))
    pair = [start_chunk(work, config, iterations, f"pair{i}", env) for i in range(2)]
    together = statistics.mean(seconds_per_step(*p) for p in pair)
    return alone, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every chunk")
    args = parser.parse_args()
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="contention-") as tmp:
        work = Path(tmp)
        config = prepare(work, args.iterations)
        print(f"threads per chunk {rule_threads()}, cores {os.cpu_count()}, env {args.env}")
        ratios = []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            alone, together = measure(work, config, args.iterations, env)
            ratios.append(together / alone)
            print(
                f"round {round_}: alone {alone:.3f} s/step, beside another {together:.3f} "
                f"s/step, slowdown {ratios[-1]:.2f}x ({time.perf_counter() - started:.0f} s)"
            )
        print(f"slowdown {statistics.median(ratios):.2f} (goal <= 2.5)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
