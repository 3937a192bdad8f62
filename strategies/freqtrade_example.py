"""An example freqtrade strategy driven by the live playbook (runs inside freqtrade only).

Copy it into freqtrade's ``user_data/strategies/`` (or pass ``--strategy-path``), set ``playbook_path``
to the live playbook (here or as the config key of that name) and run ``freqtrade backtesting
--strategy Strategy`` or ``freqtrade trade``. It enters long when the close dips below its 20-candle mean;
the deeper the dip, the higher the signal's ``confidence`` (0-1), which the playbook's
``confidence_threshold`` of the regime at entry admits or refuses. Stop, trailing, ROI table, leverage
and stake come from the playbook (:class:`framework.freqtrade_strategy.PlaybookStrategyMixin`).

This module imports freqtrade (GPL-3.0), so nothing of the library imports it; ``strategies.__all__``
leaves it out.
"""

from __future__ import annotations

import pandas as pd
from freqtrade.strategy import IStrategy

from framework.freqtrade_strategy import PlaybookStrategyMixin

DIP_FOR_FULL_CONFIDENCE = 0.03
"""A close this fraction below its mean gives confidence 1."""


class Strategy(PlaybookStrategyMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    startup_candle_count = 20
    can_short = False
    playbook_path = "playbook.yaml"
    confidence_column = "confidence"

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        mean = dataframe["close"].rolling(20).mean()
        dataframe["dip"] = (mean - dataframe["close"]) / mean
        dataframe["confidence"] = (dataframe["dip"] / DIP_FOR_FULL_CONFIDENCE).clip(0.0, 1.0)
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe.loc[dataframe["dip"] > 0.01, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe
