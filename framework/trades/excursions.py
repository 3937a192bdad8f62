"""How far price moved against and for each trade while it was open: the log's ``min_rate`` /
``max_rate`` where present, else the lowest low and highest high of the symbol's bars that opened within
[entry, exit], found by one compiled pass over each symbol's trades."""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.jit import njit
from framework.market import Market


def excursions(trades: pd.DataFrame, market: Market) -> tuple[np.ndarray, np.ndarray]:
    """Each trade's adverse and favourable excursion, as fractions of its entry price (long: entry -
    lowest low and highest high - entry; short: the other way round).

    From the log's ``min_rate``/``max_rate`` where both are present, else from the symbol's candles
    whose bars opened within [entry, exit]; NaN when neither is available (no candles, no bar inside).
    """
    direction = np.where(trades["side"].to_numpy() == "short", -1.0, 1.0)
    entry = trades["entry_price"].to_numpy(np.float64)
    low = trades["min_rate"].to_numpy(np.float64).copy()
    high = trades["max_rate"].to_numpy(np.float64).copy()
    missing = ~(np.isfinite(low) & np.isfinite(high))
    symbols = trades["symbol"].to_numpy()
    for symbol in pd.unique(symbols[missing]):
        if symbol not in market.candles:
            continue
        rows = np.flatnonzero(missing & (symbols == symbol))
        frame = market.candles[symbol].frame
        times = frame.index.asi8
        first = np.searchsorted(times, _nanoseconds(trades["entry_time"].iloc[rows]), side="left")
        stop = np.searchsorted(times, _nanoseconds(trades["exit_time"].iloc[rows]), side="right")
        lows, highs = frame["low"].to_numpy(np.float64), frame["high"].to_numpy(np.float64)
        low[rows], high[rows] = range_extremes(lows, highs, first, stop)
    adverse = np.where(direction > 0, (entry - low) / entry, (high - entry) / entry)
    favourable = np.where(direction > 0, (high - entry) / entry, (entry - low) / entry)
    return adverse, favourable


@njit(cache=True)
def range_extremes(
    lows: np.ndarray, highs: np.ndarray, first: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per range k, the minimum of ``lows[first[k]:stop[k]]`` and the maximum of
    ``highs[first[k]:stop[k]]``; NaN for an empty range."""
    n = len(first)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    for k in range(n):
        if stop[k] <= first[k]:
            continue
        lo = lows[first[k]]
        hi = highs[first[k]]
        for i in range(first[k] + 1, stop[k]):
            lo = min(lo, lows[i])
            hi = max(hi, highs[i])
        low[k] = lo
        high[k] = hi
    return low, high


def _nanoseconds(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8
