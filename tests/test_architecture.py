"""The map in docs/ARCHITECTURE.md holds: a module imports only modules of its own layer or the layers
below it, so data flows one way (load -> features -> tuners -> replay/validation -> session store ->
approval -> playbook) and the channels sit at the edge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FRAMEWORK = Path(__file__).resolve().parents[1] / "framework"

# Lowest first; a module's layer is that of the longest prefix listed.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "errors", "formatting", "times", "livefile", "user_cache", "jit", "collector", "statistics", "judging",
        "config", "parallel", "playbook.schema", "playbook.yaml_text",
    ),
    ("trades", "freqtrade", "market", "regimes", "playbook", "strategy"),
    ("replay", "features", "models", "quality"),
    ("search", "tuners", "safety", "tuning"),
    ("out_of_sample", "validation"),
    (
        "session", "audit_report", "stability", "store", "decisions", "publishing", "freqtrade_reload", "approval",
        "report",
    ),
    ("pipeline", "sample", "audit", "desk"),
    ("cli", "bot", "freqtrade_strategy", "dashboard"),
)  # fmt: skip


def layer_of(module: str) -> int:
    """The layer of ``module`` (a dotted name below ``framework``), by its longest listed prefix."""
    best, depth = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and name.count(".") > depth:
                best, depth = index, name.count(".")
    if best is None:
        raise AssertionError(f"framework.{module} is in no layer of tests/test_architecture.py")
    return best


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(FRAMEWORK.rglob("*.py")):
        parts = path.relative_to(FRAMEWORK).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the public API re-exports from every layer, lazily
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(path: Path) -> set[str]:
    """Every ``framework`` module ``path`` imports, at module level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("framework."):
            names.add(node.module.removeprefix("framework."))
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("framework.") for a in node.names if a.name.startswith("framework."))
    return names


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_only_its_own_layer_or_lower(module: str) -> None:
    upward = sorted(name for name in imported(modules()[module]) if layer_of(name) > layer_of(module))
    assert not upward, f"framework.{module} (layer {layer_of(module)}) imports higher layers: {upward}"
