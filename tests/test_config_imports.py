"""config/ is the bottom of the house: it parses and checks values, and imports no stage
(plan, data, store, export, predict, ...), not even lazily inside a function. Only its own
modules, `layout` (a leaf) and third-party packages."""

import ast
from pathlib import Path

import dacapo_flow.config

CONFIG = Path(dacapo_flow.config.__file__).parent
ALLOWED = ("dacapo_flow.config", "dacapo_flow.layout")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a module of config/, top level or in a
    function; relative imports resolved as Python does."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against dacapo_flow.config
                base = ["dacapo_flow", "config"][: 2 - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
                found += [(node.lineno, name) for name in names]
            else:
                found.append((node.lineno, node.module))
    return found


def test_no_module_of_config_imports_a_stage():
    modules = sorted(CONFIG.glob("*.py"))
    assert len(modules) > 10
    bad = [
        f"{path.name}:{line}: {module}"
        for path in modules
        for line, module in imported_modules(path.read_text())
        if module.split(".")[0] == "dacapo_flow"
        and not any(module == a or module.startswith(a + ".") for a in ALLOWED)
    ]
    assert bad == []


def test_lazy_and_relative_imports_are_seen():
    source = (
        "from ..layout import Layout\n"
        "from .base import Config\n"
        "def f():\n"
        "    from .. import data\n"
        "    import dacapo_flow.store.atomic\n"
    )
    assert [module for _, module in imported_modules(source)] == [
        "dacapo_flow.layout",
        "dacapo_flow.config.base",
        "dacapo_flow.data",
        "dacapo_flow.store.atomic",
    ]
