"""Sweeps: one run config expanded over a grid of field values times repetitions (DESIGN §9).

A grid maps dotted keys of the run config to value lists, e.g.
`{"trainer_config.learning_rate": [1e-4, 3e-4], "architecture_config.num_fmaps": [8, 12]}`.
Each run's name is `<base>_<alias><value>_..._rep<r>` with the keys in sorted order, so a
name is a function of its own grid point alone: reordering keys or values, or adding values,
never renames an existing run (whose checkpoints would then be orphaned).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .base import ConfigError
from .loading import _is_tag, format_validation_error, read_yaml, verified
from .run_config import RunConfig

# Short names of the keys people sweep; any other key uses its last component.
ALIASES = {
    "learning_rate": "lr",
    "num_fmaps": "fmaps",
    "fmaps_out": "fout",
    "fmap_inc_factor": "finc",
    "batch_size": "bs",
    "num_iterations": "iters",
    "validation_interval": "vi",
    "downsample_factors": "down",
    "input_shape": "in",
    "eval_shape_increase": "evalinc",
    "scale_factor": "scale",
    "weight_decay": "wd",
    "kernel_size_down": "kdown",
    "kernel_size_up": "kup",
}
# Runs one workflow may plan (grid points x repetitions, all entries together): each is a run
# config verified while the DAG is built and ~10 jobs in it; far more would not finish
# planning (10**6 grid points took `snakemake -n` hours).
MAX_PLANNED_RUNS = 10_000
# The sweep itself sets these; a grid over them would break names and seeds.
RESERVED_KEYS = ("name", "repetition")
_SAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its name, the point of the grid it trains, and its config."""

    name: str
    base_name: str
    group: str  # the name without the repetition suffix: one leaderboard row
    repetition: int
    repetitions: int | None
    point: dict[str, Any]
    config: dict = field(repr=False)  # the run config as a dict, with name and repetition
    run_config: RunConfig = field(repr=False)


def key_alias(key: str) -> str:
    """`trainer_config.learning_rate` -> `lr`; unknown keys: last component without `_`."""
    last = [part for part in key.split(".") if not part.isdigit()][-1]
    return ALIASES.get(last, last.replace("_", ""))


def aliases(keys) -> dict[str, str]:
    """Alias per key; where two keys share an alias, both use their last two components."""
    short = {key: key_alias(key) for key in keys}
    clashes = {a for a in short.values() if list(short.values()).count(a) > 1}
    for key in keys:
        if short[key] in clashes:
            short[key] = "".join(_SAFE.sub("", p) for p in key.split(".")[-2:])
    return short


def value_token(value: Any) -> str:
    """A short, name-safe spelling of a grid value: 1e-4, 0.5, 8, true, 44x44x44."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_token(value)
    if isinstance(value, str) and value and not _SAFE.search(value):
        return value
    if isinstance(value, (list, tuple)) and value and all(_is_scalar(v) for v in value):
        return "x".join(value_token(v) for v in value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, list) for v in value):
        return ".".join(value_token(v) for v in value)
    # Anything else (dicts, odd strings): a short hash, still stable across reruns.
    text = json.dumps(value, sort_keys=True, default=str)
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:8]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) or (
        isinstance(value, str) and bool(value) and not _SAFE.search(value)
    )


def _float_token(value: float) -> str:
    if not math.isfinite(value):
        return str(value).lower()
    if value == 0 or 1e-2 <= abs(value) < 1e5:
        text = f"{value:.12g}"
        return text
    mantissa, exponent = f"{value:.12e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def point_suffix(point: dict[str, Any], short: dict[str, str] | None = None) -> str:
    """`lr1e-4_fmaps8` for a grid point; keys in sorted order."""
    short = short or aliases(sorted(point))
    return "_".join(f"{short[key]}{value_token(point[key])}" for key in sorted(point))


def set_dotted(data: dict, key: str, value: Any, source: str) -> None:
    """Set `a.b.0.c` in nested dicts/lists; missing dict levels are created (fields with
    defaults are often absent from the YAML), list indices must exist."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{source}: grid key {key!r}: {where} is not an index of a list of "
                    f"{len(node)} items"
                )
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
            if not last and node.get(part) is None:
                node[part] = {}
        else:
            raise ConfigError(f"{source}: grid key {key!r}: {where} is inside a plain value")
        if last:
            node[index] = copy.deepcopy(value)
        else:
            node = node[index]


def check_grid(grid: Any, source: str) -> dict[str, list]:
    """The grid as {key: [values]}: a mapping of dotted keys to non-empty, distinct lists."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{source}: grid: expected a mapping of dotted keys to value lists")
    for key, values in grid.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", key):
            raise ConfigError(f"{source}: grid key {key!r} is not a dotted key like a.b.c")
        if key.split(".")[0] in RESERVED_KEYS:
            raise ConfigError(f"{source}: grid key {key!r}: the sweep sets names and repetitions")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid key {key!r}: expected a non-empty list of values")
        tokens = [value_token(v) for v in values]
        for token in sorted({t for t in tokens if tokens.count(t) > 1}):
            same = [v for v, t in zip(values, tokens) if t == token]
            raise ConfigError(
                f"{source}: grid key {key!r}: values {same} would give runs the same name "
                f"(each is spelled {token!r})"
            )
    return grid


def planned_runs(grid: dict[str, list] | None, repetitions: int | None) -> int:
    """How many runs a `runs[]` entry plans: grid points times repetitions."""
    points = math.prod(len(values) for values in grid.values()) if grid else 1
    return points * (repetitions or 1)


def check_size(grid: dict[str, list] | None, repetitions: int | None, source: str) -> None:
    """Refuse an entry that plans more than MAX_PLANNED_RUNS runs, before expanding it."""
    count = planned_runs(grid, repetitions)
    if count > MAX_PLANNED_RUNS:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in sorted((grid or {}).items()))
        parts = [sizes] if sizes else []
        if repetitions:
            parts.append(f"{repetitions} repetitions")
        raise ConfigError(
            f"{source}: {' x '.join(parts)} = {count} runs; at most {MAX_PLANNED_RUNS} runs "
            "in one workflow (split the sweep, or sweep fewer values)"
        )


def _parsed(data: dict, where: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        unknown = [
            ".".join(str(p) for p in item["loc"] if not _is_tag(p))
            for item in error.errors()
            if item["type"] == "extra_forbidden"
        ]
        if unknown:
            raise ConfigError(f"{where}: {', '.join(unknown)}: not a field of the run config")
        raise ConfigError(format_validation_error(error, where)) from None


def expand_sweep(
    config_path: str | Path,
    grid: dict[str, list],
    repetitions: int | None = None,
    source: str = "config/config.yaml",
) -> list[SweepRun]:
    """Every (grid point x repetition) of the run config at `config_path`, verified.

    `source` names the grid's own location in errors (e.g. `config/config.yaml: runs[2]`).
    Without `repetitions` there is one run per point (the file's repetition, no suffix).
    """
    path = Path(config_path)
    check_grid(grid, source)
    check_size(grid, repetitions, f"{source}: grid")
    base = read_yaml(path)
    base_config = _parsed(base, str(path))
    keys = sorted(grid)
    short = aliases(keys)
    # Each key alone first, so a wrong key or type is blamed on that key.
    for key in keys:
        for value in grid[key]:
            data = copy.deepcopy(base)
            where = f"{source}: grid key {key!r} (value {value!r}) applied to {path}"
            set_dotted(data, key, value, where)
            _parsed(data, where)
    reps = [(None, base_config.repetition)] if repetitions is None else []
    reps += [(r, r) for r in range(repetitions or 0)]
    runs = []
    for values in itertools.product(*(grid[key] for key in keys)):
        point = dict(zip(keys, values))
        group = f"{base_config.name}_{point_suffix(point, short)}"
        for suffix, repetition in reps:
            name = group if suffix is None else f"{group}_rep{suffix}"
            data = copy.deepcopy(base)
            for key in keys:
                set_dotted(data, key, point[key], source)
            data["name"], data["repetition"] = name, repetition
            where = f"{source}: grid point {point} applied to {path}"
            # Data are checked once per plan (check_plan_data), not per grid point here.
            run_config = verified(_parsed(data, where), where)
            runs.append(
                SweepRun(
                    name, base_config.name, group, repetition, repetitions, point, data, run_config
                )
            )
    return runs


def sweep_metadata(
    run: str,
    base_name: str,
    point: dict[str, Any] | None = None,
    repetition: int = 0,
    repetitions: int | None = None,
    group: str | None = None,
    start: dict | None = None,
) -> dict:
    """What the report needs to know about a run: its group (one leaderboard row), its
    repetition and how many were planned, and where it started from (lineage)."""
    point = dict(point or {})
    if group is None:
        group = f"{base_name}_{point_suffix(point)}" if point else base_name
    return {
        "run": run,
        "base_name": base_name,
        "group": group,
        "grid": point,
        "repetition": int(repetition),
        "repetitions": None if repetitions is None else int(repetitions),
        "start": start,
    }


def read_sweep_metadata(path: str | Path) -> dict:
    """Read and check a sweep metadata JSON; errors name the file and the key."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    for key, kind in (("run", str), ("base_name", str), ("group", str), ("grid", dict)):
        if not isinstance(data.get(key), kind):
            raise ConfigError(f"{path}: {key}: expected a {kind.__name__}, got {data.get(key)!r}")
    if not isinstance(data.get("repetition"), int):
        raise ConfigError(f"{path}: repetition: expected an int, got {data.get('repetition')!r}")
    return data
