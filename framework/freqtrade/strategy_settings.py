"""A freqtrade strategy's exit settings (stoploss, minimal_roi, trailing) found where freqtrade keeps
them, and written as a playbook whose first replay is the strategy's.

Where each setting comes from, the strongest first:

1. a backtest export's ``strategy.<name>`` section: what freqtrade ran with, after every override;
2. freqtrade's config (``stoploss``, ``minimal_roi``, ``trailing_*`` set there override the strategy);
3. the hyperopt parameter file beside the strategy (``<file>.json``, ``params.roi/stoploss/trailing``);
4. the strategy's class attributes, read from its ``.py`` with :mod:`ast`.

2-4 is freqtrade's own order of resolution. The strategy file is parsed, never imported or run:
only attributes written as literals are read (a computed one is reported and skipped), and base
classes are followed within the same file.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.errors import InputError
from framework.freqtrade.config import FreqtradeConfig, read_json_text

EXIT_SETTINGS = (
    "stoploss",
    "minimal_roi",
    "trailing_stop",
    "trailing_stop_positive",
    "trailing_stop_positive_offset",
    "trailing_only_offset_is_reached",
)
"""The strategy settings a playbook takes over."""
_STRATEGY_ATTRIBUTES = (*EXIT_SETTINGS, "timeframe", "can_short")
_STRATEGY_BASE = "IStrategy"


@dataclass(frozen=True)
class StrategySettings:
    """A strategy's exit settings in freqtrade's units (``stoploss`` negative ratio, ``minimal_roi``
    minutes -> profit ratio, trailing ratios) and where each was found (``sources``: setting -> text)."""

    name: str
    values: dict[str, Any]
    sources: dict[str, str]
    warnings: tuple[str, ...]

    def get(self, setting: str, default: Any = None) -> Any:
        return self.values.get(setting, default)


def read_backtest_strategy(path: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """The ``strategy.<name>`` section of a backtest export (``.json`` or ``.zip``); ``name`` may be
    omitted when the export holds one strategy. Raises :class:`InputError`."""
    from framework.freqtrade.trades import read_export

    source, document = read_export(path)
    strategies = document["strategy"]
    if name is None:
        if len(strategies) != 1:
            raise InputError.single(
                source, f"the export holds {len(strategies)} strategies ({', '.join(strategies)}): pass --strategy"
            )
        name = next(iter(strategies))
    if name not in strategies:
        raise InputError.single(source, f"no strategy '{name}' in the export (strategies: {', '.join(strategies)})")
    return name, strategies[name]


def find_strategy_file(name: str, folders: list[Path]) -> Path | None:
    """The ``.py`` in ``folders`` (freqtrade's ``strategies`` folders) that defines class ``name``."""
    for folder in folders:
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
            tree = _parse(path)
            if any(isinstance(node, ast.ClassDef) and node.name == name for node in tree.body):
                return path
    return None


def read_strategy_file(path: Path, name: str | None) -> tuple[str, dict[str, Any], list[str]]:
    """Class ``name``'s literal settings in the strategy file ``path`` (``name`` None: the file's one
    strategy class), base classes in the same file first; and what could not be read."""
    tree = _parse(path)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    if name is None:
        bases = {base for node in classes.values() for base in _base_names(node)}
        strategies = [c for c in classes.values() if c.name not in bases and _derives_from_strategy(c, classes)]
        if len(strategies) != 1:
            found = ", ".join(c.name for c in strategies) or "none"
            raise InputError.single(
                str(path), f"expected one strategy class (an {_STRATEGY_BASE}) in the file, found: {found}; "
                "name it with --strategy NAME"
            )  # fmt: skip
        name = strategies[0].name
    if name not in classes:
        raise InputError.single(str(path), f"no class {name} in this file (classes: {', '.join(classes) or 'none'})")
    values: dict[str, Any] = {}
    notes: list[str] = []
    for node in _lineage(classes[name], classes, notes, path):
        for statement in node.body:
            target, value = _assignment(statement)
            if target not in _STRATEGY_ATTRIBUTES or value is None:
                continue
            try:
                values[target] = ast.literal_eval(value)
            except ValueError:
                values.pop(target, None)
                notes.append(
                    f"{path.name}:{statement.lineno}: {node.name}.{target} is computed, not a literal: not read"
                )
    return name, values, notes


def read_params_file(path: Path, name: str) -> dict[str, Any]:
    """freqtrade's hyperopt parameter file (``{"strategy_name", "params": {"roi", "stoploss",
    "trailing", ...}}``) as strategy settings. Raises :class:`InputError`."""
    source = str(path)
    document = read_json_text(path.read_text(encoding="utf-8"), source)
    params = document.get("params") if isinstance(document, dict) else None
    if not isinstance(params, dict):
        raise InputError.single(source, 'not a freqtrade parameter file: expected {"params": {...}}')
    if document.get("strategy_name") != name:
        raise InputError.single(
            source, f"the parameter file is of strategy '{document.get('strategy_name')}', not '{name}'"
        )
    values: dict[str, Any] = {}
    if isinstance(params.get("roi"), dict):
        values["minimal_roi"] = params["roi"]
    if isinstance(params.get("stoploss"), dict) and "stoploss" in params["stoploss"]:
        values["stoploss"] = params["stoploss"]["stoploss"]
    if isinstance(params.get("trailing"), dict):
        values.update({k: v for k, v in params["trailing"].items() if k in EXIT_SETTINGS})
    return values


def strategy_settings(
    *,
    backtest: Path | None = None,
    strategy_file: Path | None = None,
    name: str | None = None,
    config: FreqtradeConfig | None = None,
    roi_exits: int = 0,
) -> StrategySettings:
    """A strategy's exit settings from every source given (see the module docstring for the order).

    ``roi_exits`` is the number of the log's trades that left by ROI: an export whose ``minimal_roi``
    is empty while trades left by ROI does not hold the table used, so a weaker source's is taken.
    """
    layers: list[tuple[str, Mapping[str, Any]]] = []  # weakest first
    warnings: list[str] = []
    if backtest is not None and name is None:
        name = read_backtest_strategy(backtest, None)[0]
    if strategy_file is not None:
        name, attributes, notes = read_strategy_file(strategy_file, name)
        warnings.extend(notes)
        layers.append((f"strategy file {strategy_file.name}", attributes))
        params = strategy_file.with_suffix(".json")
        if params.is_file():
            layers.append((f"parameter file {params.name}", read_params_file(params, name)))
    if config is not None and config.strategy_overrides:
        layers.append((f"freqtrade config {config.source.name}", config.strategy_overrides))
    if backtest is not None:
        name, section = read_backtest_strategy(backtest, name)
        exported = {key: section[key] for key in (*EXIT_SETTINGS, "timeframe") if key in section}
        if roi_exits and not exported.get("minimal_roi"):
            exported.pop("minimal_roi", None)
            weaker = any(layer.get("minimal_roi") for _, layer in layers)
            warnings.append(
                f"the backtest export's minimal_roi is empty but {roi_exits} of its trades left by ROI: "
                + ("the table is taken from the strategy" if weaker else "give --strategy to read the table used")
            )
        layers.append((f"backtest export {backtest.name}", exported))
    if name is None:
        raise InputError.single("init-playbook", "give --strategy, or --from-backtest with one strategy")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for label, layer in layers:
        for key, value in layer.items():
            values[key] = value
            sources[key] = label
    return StrategySettings(name, values, sources, tuple(warnings))


def roi_table(raw: Any, source: str) -> dict[int, float]:
    """freqtrade's ``minimal_roi`` (keys minutes as text or numbers) as whole minutes -> ratio, sorted."""
    if not isinstance(raw, Mapping):
        raise InputError.single(source, f"minimal_roi must be a mapping of minutes to ratios, got {raw!r}")
    table: dict[int, float] = {}
    for key, value in raw.items():
        try:
            minutes = float(key)
        except (TypeError, ValueError):
            minutes = math.nan
        if not (minutes >= 0 and minutes.is_integer()):
            raise InputError.single(source, f"minimal_roi key {key!r} is not whole minutes")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InputError.single(source, f"minimal_roi[{key!r}] = {value!r} is not a finite number")
        table[int(minutes)] = float(value)
    return dict(sorted(table.items()))


# --- the strategy file, parsed ---------------------------------------------------------------


def _parse(path: Path) -> ast.Module:
    if not path.is_file():
        raise InputError.single(str(path), "strategy file not found")
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise InputError.single(str(path), f"not readable Python: {exc}") from None


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _derives_from_strategy(node: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> bool:
    bases = _base_names(node)
    return _STRATEGY_BASE in bases or any(
        base in classes and base != node.name and _derives_from_strategy(classes[base], classes) for base in bases
    )


def _lineage(node: ast.ClassDef, classes: dict[str, ast.ClassDef], notes: list[str], path: Path) -> list[ast.ClassDef]:
    """``node``'s base classes defined in the file (farthest first), then ``node``."""
    chain: list[ast.ClassDef] = []
    for base in _base_names(node):
        if base in classes and base != node.name:
            chain.extend(_lineage(classes[base], classes, notes, path))
        elif base != _STRATEGY_BASE:
            notes.append(f"{path.name}: {node.name} derives from {base}, not in this file: its settings are not read")
    return [*chain, node]


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value
    return None, None
