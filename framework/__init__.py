"""playbook-tuner: tune a trading bot's per-regime playbook from its own trade log, safely.

The public API is what this module exports; everything else is internal and may change. The names are
imported on first use (PEP 562), so ``import framework`` and the command line start without loading
pandas, numba or scikit-learn until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "REGIMES": "framework.regimes",
    "SPECS": "framework.playbook",
    "Candles": "framework.market",
    "InputError": "framework.errors",
    "Market": "framework.market",
    "ParameterChange": "framework.playbook",
    "ParameterSpec": "framework.playbook",
    "Playbook": "framework.playbook",
    "PlaybookTunerError": "framework.errors",
    "Problem": "framework.errors",
    "RegimeParameters": "framework.playbook",
    "Session": "framework.session",
    "Settings": "framework.config",
    "Store": "framework.store",
    "StoreError": "framework.errors",
    "Strategy": "framework.strategy",
    "Tuner": "framework.tuners",
    "TuningDesk": "framework.desk",
    "classify": "framework.regimes",
    "import_freqtrade": "framework.freqtrade",
    "label_trades": "framework.regimes",
    "load_candles": "framework.market",
    "load_market": "framework.market",
    "load_playbook": "framework.playbook",
    "load_settings": "framework.config",
    "load_signals": "framework.trades",
    "load_strategy": "framework.strategy",
    "load_trades": "framework.trades",
    "parse_playbook": "framework.playbook",
    "replay": "framework.replay",
    "write_log": "framework.trades",
    "write_sample": "framework.sample",
}

__all__ = [
    "REGIMES",
    "SPECS",
    "Candles",
    "InputError",
    "Market",
    "ParameterChange",
    "ParameterSpec",
    "Playbook",
    "PlaybookTunerError",
    "Problem",
    "RegimeParameters",
    "Session",
    "Settings",
    "Store",
    "StoreError",
    "Strategy",
    "Tuner",
    "TuningDesk",
    "classify",
    "import_freqtrade",
    "label_trades",
    "load_candles",
    "load_market",
    "load_playbook",
    "load_settings",
    "load_signals",
    "load_strategy",
    "load_trades",
    "parse_playbook",
    "replay",
    "write_log",
    "write_sample",
]

if TYPE_CHECKING:
    from framework.config import Settings, load_settings
    from framework.desk import TuningDesk
    from framework.errors import InputError, PlaybookTunerError, Problem, StoreError
    from framework.freqtrade import import_freqtrade
    from framework.market import Candles, Market, load_candles, load_market
    from framework.playbook import (
        SPECS,
        ParameterChange,
        ParameterSpec,
        Playbook,
        RegimeParameters,
        load_playbook,
        parse_playbook,
    )
    from framework.regimes import REGIMES, classify, label_trades
    from framework.replay import replay
    from framework.sample import write_sample
    from framework.session import Session
    from framework.store import Store
    from framework.strategy import Strategy, load_strategy
    from framework.trades import load_signals, load_trades, write_log
    from framework.tuners import Tuner


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
