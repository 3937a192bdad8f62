"""A freqtrade user's files read as they are.

- :mod:`~framework.freqtrade.trades`: the trade history (database or backtest export) as a trade log;
- :mod:`~framework.freqtrade.config`: ``config.json`` (comments and trailing commas allowed) as settings;
- :mod:`~framework.freqtrade.strategy_settings`: a strategy's stop, ROI and trailing settings as a playbook;
- :mod:`~framework.freqtrade.signals`: the signal pickles of ``backtesting --export signals`` as a signal log.

Nothing here imports freqtrade or runs a user's strategy.
"""

from framework.freqtrade.config import FreqtradeConfig, load_freqtrade_config
from framework.freqtrade.signals import read_signal_log
from framework.freqtrade.trades import FreqtradeImport, import_freqtrade, read_trade_log

__all__ = [
    "FreqtradeConfig",
    "FreqtradeImport",
    "import_freqtrade",
    "load_freqtrade_config",
    "read_signal_log",
    "read_trade_log",
]
