"""Trend-following breakout: enter with the trend when price leaves its recent range."""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.strategy import Strategy
from strategies.indicators import average_true_range, ema


class Momentum(Strategy):
    """Donchian breakout filtered by the fast/slow EMA spread.

    Confidence grows with the trend strength, the EMA spread measured in ATRs:
    ``1 - exp(-|strength| / strength_scale)``. Exits when the close crosses the slow EMA.
    """

    name = "momentum"

    def __init__(
        self,
        fast: int = 20,
        slow: int = 80,
        breakout_bars: int = 48,
        atr_period: int = 14,
        strength_scale: float = 2.0,
    ):
        self.fast = fast
        self.slow = slow
        self.breakout_bars = breakout_bars
        self.atr_period = atr_period
        self.strength_scale = strength_scale

    def signals(self, candles: pd.DataFrame) -> pd.DataFrame:
        close = candles["close"]
        slow_line = ema(close, self.slow)
        atr = average_true_range(candles, self.atr_period)
        strength = (ema(close, self.fast) - slow_line) / atr
        upper = candles["high"].rolling(self.breakout_bars).max().shift(1)
        lower = candles["low"].rolling(self.breakout_bars).min().shift(1)
        entry = np.where((close > upper) & (strength > 0), 1, np.where((close < lower) & (strength < 0), -1, 0))
        confidence = 1.0 - np.exp(-strength.abs().fillna(0.0) / self.strength_scale)
        forecast = (strength.abs() * atr / close * 0.5).fillna(0.0)
        return pd.DataFrame(
            {
                "entry": entry.astype(np.int8),
                "confidence": confidence,
                "forecast_return": forecast,
                "exit_long": close < slow_line,
                "exit_short": close > slow_line,
            },
            index=candles.index,
        )
