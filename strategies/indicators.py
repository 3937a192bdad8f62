"""Causal pandas indicators shared by the built-in strategies (bar i uses bars <= i only)."""

from __future__ import annotations

import pandas as pd


def ema(series: pd.Series, span: int) -> pd.Series:
    """Exponential moving average, recursive form (no look-ahead)."""
    return series.ewm(span=span, adjust=False).mean()


def average_true_range(candles: pd.DataFrame, period: int) -> pd.Series:
    """Wilder's average true range, in price units."""
    previous_close = candles["close"].shift(1)
    true_range = pd.concat(
        [
            candles["high"] - candles["low"],
            (candles["high"] - previous_close).abs(),
            (candles["low"] - previous_close).abs(),
        ],
        axis=1,
    ).max(axis=1)
    return true_range.ewm(alpha=1.0 / period, adjust=False).mean()
