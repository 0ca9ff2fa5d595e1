"""Per-job start-up: seconds from a job's process start to its first training step (and, for
validate, to its first forward pass), by phase.

Runs the example's `dacapo-flow train-chunk` (as the train_chunk rule does: its --threads,
a fresh chunk of `--iterations` steps) and `dacapo-flow validate` of the checkpoint it wrote,
each through a wrapper that timestamps, around the real `dacapo_flow.cli.main`:

    python     interpreter start and the wrapper's first line
    cli        importing the command line (no torch)
    library    importing torch and the job's modules
    setup      config parse, model, checkpoint, data (and the loader workers' start)
    batch      waiting for the first batch (train-chunk: the first step's data wait)

`start -> first step` is their sum. Also prints the floors: `python -c pass`, `import torch`,
a light job's `dacapo-flow --help`, and what parsing the workflow's plan costs (`load_plan` of
config/config.yaml: with data checks, as Snakemake's main process does once; without, as every
cluster job's Snakemake does again).

    python bench/startup.py [--repeats 3] [--iterations 3]
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contention import prepare, rule_threads

ROOT = Path(__file__).resolve().parents[1]

WRAPPER = """
import json, os, sys, time
marks = {"start": float(os.environ["STARTUP_T0"]), "python": time.time()}
from dacapo_flow.job_threads import cap_thread_pools
cap_thread_pools(sys.argv[1:])  # as main() does, before numpy is imported
import dacapo_flow.cli as cli
marks["cli"] = time.time()
if sys.argv[1] == "train-chunk":
    import dacapo_flow.training as target
    name = "run_iterations"  # the loop: model, checkpoint, sampler and workers are ready
else:
    import dacapo_flow.validation as target
    name = "predict_blockwise"  # the first dataset's forward passes
marks["library"] = time.time()
original = getattr(target, name)
def first(*args, **kwargs):
    marks.setdefault("setup", time.time())
    return original(*args, **kwargs)
setattr(target, name, first)
status = cli.main(sys.argv[1:])
marks["end"] = time.time()
with open(os.environ["STARTUP_MARKS"], "w") as file:
    json.dump(marks, file)
sys.exit(status)
"""


def wall(command: list[str], env=None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def timed_job(args: list[str], work: Path) -> dict:
    """Phase durations (s) of one `dacapo-flow <args>` job."""
    marks_file = work / "marks.json"
    env = dict(os.environ, STARTUP_MARKS=str(marks_file))
    env["STARTUP_T0"] = repr(time.time())
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], check=False, capture_output=True, env=env, cwd=work
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stderr.decode()[-2000:]}")
    marks = json.loads(marks_file.read_text())
    order = ["start", "python", "cli", "library", "setup"]
    phases = {b: marks[b] - marks[a] for a, b in itertools.pairwise(order)}
    phases["end"] = marks["end"] - marks["setup"]
    return phases


def train_and_validate(work: Path, config: Path, iterations: int, threads: int) -> tuple:
    out = work / "store/run/checkpoints/iterations" / str(iterations)
    stats = work / "store/run/training_stats" / f"{iterations}.nc"
    train = ["train-chunk", "--run-config", str(config), "--iteration", str(iterations)]
    train += ["--threads", str(threads), "--out", str(out), "--stats-out", str(stats)]
    phases = timed_job([*train, "--no-progress"], work)
    steps = xr.load_dataarray(stats, engine="h5netcdf")
    phases["batch"] = float(steps["data_wait"].values[0])
    phases["first step"] = float(steps["time"].values[0])
    validate = ["validate", "--run-config", str(config), "--checkpoint", str(out)]
    validate += ["--out", str(work / "scores.nc"), "--scratch", str(work / "tmp")]
    return phases, timed_job([*validate, "--threads", "1"], work)


def plan_seconds(check_data: bool) -> float:
    code = (
        "import time, yaml\n"
        "from dacapo_flow.plan.runs import load_plan\n"
        "config = yaml.safe_load(open('config/config.yaml'))\n"
        "t = time.perf_counter()\n"
        f"load_plan(config, check_data={check_data})\n"
        "print(time.perf_counter() - t)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return float(done.stdout.split()[-1])


def show(name: str, runs: list[dict], keys: list[str]) -> None:
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    parts = ", ".join(f"{k} {v:.2f}" for k, v in medians.items())
    total = sum(medians[k] for k in keys if k not in ("first step", "end"))
    print(
        f"{name}: {parts} s; start -> first {'step' if 'batch' in keys else 'forward'} "
        f"{total:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    threads = rule_threads()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, threads {threads}")
    floors = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import torch": [sys.executable, "-c", "import torch"],
        "dacapo-flow --help": [sys.executable, "-m", "dacapo_flow.cli", "--help"],
    }
    for name, command in floors.items():
        times = [wall(command) for _ in range(args.repeats)]
        print(f"{name}: {statistics.median(times):.2f} s")
    if (ROOT / "data/synthetic/manifest.json").exists():
        for check in (True, False):
            print(f"load_plan(check_data={check}): {plan_seconds(check):.2f} s")
    train, validate = [], []
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        work = Path(tmp)
        config = prepare(work, args.iterations)
        for _ in range(args.repeats):
            t, v = train_and_validate(work, config, args.iterations, threads)
            train.append(t)
            validate.append(v)
    show("train-chunk", train, ["python", "cli", "library", "setup", "batch", "first step", "end"])
    show("validate", validate, ["python", "cli", "library", "setup", "end"])
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
