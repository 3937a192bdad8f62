"""Fade stretched moves: buy far below the rolling mean, sell far above it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.strategy import Strategy
from strategies.indicators import average_true_range, ema


class MeanReversion(Strategy):
    """Enter when the close's z-score against its rolling mean crosses +-``entry_z``.

    Fading a move pays when the market has no trend, so the confidence is the calm of the market:
    ``exp(-|trend| / calm_scale)`` with ``trend`` the fast/slow EMA spread in ATRs. Exits when the
    z-score crosses back through zero.
    """

    name = "mean_reversion"

    def __init__(
        self,
        window: int = 48,
        entry_z: float = 2.0,
        fast: int = 20,
        slow: int = 80,
        atr_period: int = 14,
        calm_scale: float = 1.5,
    ):
        self.window = window
        self.entry_z = entry_z
        self.fast = fast
        self.slow = slow
        self.atr_period = atr_period
        self.calm_scale = calm_scale

    def signals(self, candles: pd.DataFrame) -> pd.DataFrame:
        close = candles["close"]
        mean = close.rolling(self.window).mean()
        z = ((close - mean) / close.rolling(self.window).std()).fillna(0.0)
        previous_z = z.shift(1).fillna(0.0)
        entry = np.where(
            (z < -self.entry_z) & (previous_z >= -self.entry_z),
            1,
            np.where((z > self.entry_z) & (previous_z <= self.entry_z), -1, 0),
        )
        trend = (ema(close, self.fast) - ema(close, self.slow)) / average_true_range(candles, self.atr_period)
        confidence = np.exp(-trend.abs().fillna(np.inf) / self.calm_scale)
        forecast = ((close - mean).abs() / close).fillna(0.0)
        return pd.DataFrame(
            {
                "entry": entry.astype(np.int8),
                "confidence": confidence,
                "forecast_return": forecast,
                "exit_long": z >= 0,
                "exit_short": z <= 0,
            },
            index=candles.index,
        )
