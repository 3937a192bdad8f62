"""playbook-tuner: tune a trading bot's per-regime playbook from its own trade log, safely.

The public API is what this module exports; everything else is internal and may change.
"""

from framework.config import Settings, load_settings
from framework.errors import InputError, PlaybookTunerError, Problem, StoreError
from framework.freqtrade import import_freqtrade
from framework.market import Candles, Market, load_candles, load_market
from framework.playbook import ParameterChange, Playbook, RegimeParameters, load_playbook, parse_playbook
from framework.regimes import REGIMES, classify, label_trades
from framework.replay import replay
from framework.sample import write_sample
from framework.store import Store
from framework.strategy import Strategy, load_strategy
from framework.trades import load_signals, load_trades, write_log

__all__ = [
    "REGIMES",
    "Candles",
    "InputError",
    "Market",
    "ParameterChange",
    "Playbook",
    "PlaybookTunerError",
    "Problem",
    "RegimeParameters",
    "Settings",
    "Store",
    "StoreError",
    "Strategy",
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
