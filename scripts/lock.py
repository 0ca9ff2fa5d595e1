"""The pip lock of dacapo-flow: exact versions of everything the project installs, torch and
what only torch needs left out (the CPU or CUDA build of torch is the installer's choice).

    python scripts/lock.py write   # envs/pip-lock.txt from the packages of this environment
    python scripts/lock.py check   # exit 1, naming them, where this environment differs

`scripts/lock.sh` runs `write` in a throwaway venv resolved from pyproject.toml's ranges; that
is how the lock is refreshed. `check` is what the tests use to make sure the suite runs on the
locked versions.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "envs" / "pip-lock.txt"
PROJECT = "dacapo-flow"
EXTRAS = ("workflow", "view", "dev")
# Installers' own tools: never pinned, pip and venv bring their own.
TOOLS = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def _requirements(dist: metadata.Distribution, extras: tuple[str, ...]) -> list[Requirement]:
    """The requirements of `dist` that apply here with `extras` asked for."""
    env = default_environment()
    found = []
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(
            req.marker.evaluate({**env, "extra": extra}) for extra in ("", *extras)
        ):
            found.append(req)
    return found


def closure(roots: list[tuple[str, tuple[str, ...]]], dists, skip: set[str]) -> set[str]:
    """Every installed package reachable from `roots`, not walking through `skip`."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        key = canonical(name)
        if key in skip or key not in dists:
            continue
        first = key not in seen
        seen.add(key)
        if first or extras:
            todo += [(r.name, tuple(r.extras)) for r in _requirements(dists[key], extras)]
    return seen


def locked_set(dists) -> dict[str, str]:
    """name -> version of what the project needs, without torch and what only torch needs."""
    project = dists[canonical(PROJECT)]
    roots = [(r.name, tuple(r.extras)) for r in _requirements(project, EXTRAS)]
    without_torch = closure(roots, dists, skip={"torch"} | TOOLS)
    return {
        dists[k].metadata["Name"]: dists[k].version
        for k in sorted(without_torch - {canonical(PROJECT)})
    }


def read_lock(path: Path = LOCK) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def write() -> None:
    pins = locked_set(installed())
    header = [
        "# The versions the test suite was last run with; scripts/install.sh installs them.",
        "# Refresh: `bash scripts/lock.sh`, then `bash scripts/test.sh`. Do not edit by hand.",
        f"# Resolved on Python {platform.python_version()} ({sys.platform}); torch and the",
        "# packages only torch needs are left to scripts/install.sh.",
    ]
    lines = [f"{name}=={version}" for name, version in pins.items()]
    tmp = LOCK.with_suffix(".tmp")
    tmp.write_text("\n".join(header + lines) + "\n")
    tmp.replace(LOCK)
    print(f"lock: wrote {len(lines)} pins to {LOCK.relative_to(ROOT)}")


def differences() -> list[str]:
    """How this environment differs from the lock, one line per package."""
    dists = installed()
    pins = read_lock()
    problems = []
    for name, version in pins.items():
        have = dists[name].version if name in dists else None
        if have != version:
            problems.append(f"{name}: locked {version}, installed {have or 'nothing'}")
    for name in locked_set(dists):
        if canonical(name) not in pins:
            problems.append(f"{name}: installed, needed by the project, but not in the lock")
    return problems


def main(argv: list[str]) -> int:
    if argv[1:] == ["write"]:
        write()
        return 0
    if argv[1:] == ["check"]:
        problems = differences()
        for line in problems:
            print(f"lock: {line}", file=sys.stderr)
        if problems:
            print(f"lock: this environment differs from {LOCK.name}", file=sys.stderr)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
