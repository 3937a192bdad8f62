"""The strategy interface: OHLCV candles in, entry signals with a confidence out.

A strategy is what a bot trades. The framework uses one to generate the embedded sample's trades and,
where a user has no signal log, to regenerate the signals a bot saw (taken or not). Built-in strategies
live in the top-level ``strategies`` package; a user's own is a subclass in any file, loaded by path
as ``path/to/file.py:ClassName``, the way freqtrade loads strategies from a user folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pandas as pd

from framework.errors import InputError

SIGNAL_COLUMNS = ("entry", "confidence", "forecast_return", "exit_long", "exit_short")


class Strategy(ABC):
    """Base class of a strategy.

    Lifecycle: the framework constructs the strategy (the constructor only stores parameters), then
    calls :meth:`signals` once per symbol with that symbol's candles. Signals must be causal: the row
    of bar ``i`` may use candles up to and including bar ``i`` and nothing later. The framework acts
    on a signal at the close of its bar (the open of the next one).
    """

    name: ClassVar[str]

    @abstractmethod
    def signals(self, candles: pd.DataFrame) -> pd.DataFrame:
        """Compute signals for one symbol.

        ``candles`` has a UTC DatetimeIndex of bar open times and float columns open, high, low, close,
        volume. Return a frame on the same index with columns:

        - ``entry``: int, +1 open a long, -1 open a short, 0 nothing;
        - ``confidence``: float in [0, 1], the strategy's confidence in the entry (free where entry is 0);
        - ``forecast_return``: float, the return the strategy expects from the entry (signed fraction
          of price in the trade's direction);
        - ``exit_long`` / ``exit_short``: bool, close an open long / short at this bar's close.
        """


def check_signals(strategy: Strategy, candles: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """Return ``signals`` if it honours the :meth:`Strategy.signals` contract, else raise InputError."""
    where = f"strategy '{strategy.name}'"
    missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
    if missing:
        raise InputError.single(where, f"signals lack columns {missing}")
    if not signals.index.equals(candles.index):
        raise InputError.single(where, "signals must have the candles' index")
    entering = signals["entry"] != 0
    conf = signals.loc[entering, "confidence"]
    if not conf.between(0, 1).all():
        raise InputError.single(where, "confidence must be within [0, 1] on entry bars", field="confidence")
    return signals


def load_strategy(spec: str) -> Strategy:
    """Instantiate a strategy from a built-in name (``momentum``) or ``path/to/file.py:ClassName``."""
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        file_name, class_name = spec.split(":", 1)
        module = _module_from_file(Path(file_name))
        candidate = getattr(module, class_name, None)
    else:
        candidate = _builtin_strategies().get(spec)
        if candidate is None:
            known = ", ".join(sorted(_builtin_strategies()))
            raise InputError.single(spec, f"unknown strategy; built-in: {known}; or give path.py:ClassName")
    if not (inspect.isclass(candidate) and issubclass(candidate, Strategy)):
        raise InputError.single(spec, "is not a Strategy subclass")
    return candidate()


def builtin_strategy_names() -> list[str]:
    """Names of the strategies shipped in the ``strategies`` package."""
    return sorted(_builtin_strategies())


def _builtin_strategies() -> dict[str, type[Strategy]]:
    package = importlib.import_module("strategies")
    found: dict[str, type[Strategy]] = {}
    for module_name in package.__all__:
        module = importlib.import_module(f"strategies.{module_name}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, Strategy) and not inspect.isabstract(obj):
                found[obj.name] = obj
    return found


def _module_from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InputError.single(str(path), "strategy file not found")
    spec = importlib.util.spec_from_file_location(f"user_strategy_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InputError.single(str(path), "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
