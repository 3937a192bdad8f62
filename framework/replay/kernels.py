"""Numba kernels of the replay: plain numpy arrays in and out, nothing of pandas, files or configs.

Bars of every symbol are concatenated into flat arrays; trade ``i`` reads the slice
``bar_start[i]:bar_stop[i]`` of its symbol. Times are int64 nanoseconds since the epoch (UTC), bar
times are bar open times. The rules are written out in docs/REPLAY.md; each is pinned by a test.
"""

from __future__ import annotations

import numpy as np
from numba import njit

STOP_LOSS = 0
TAKE_PROFIT = 1
LIQUIDATION = 2
SIGNAL = 3
TIME = 4
END_OF_DATA = 5
EXIT_REASON_NAMES = ("stop_loss", "take_profit", "liquidation", "signal", "time", "end_of_data")

NO_LIMIT = np.iinfo(np.int64).max


@njit(cache=True)
def margin_return(direction, leverage, entry_price, exit_price, fee):
    """Return on margin of one trade after fees on both sides; an isolated margin loses at most itself."""
    ratio = exit_price / entry_price
    r = leverage * direction * (ratio - 1.0) - fee * leverage * (1.0 + ratio)
    return max(r, -1.0)


@njit(cache=True)
def scan_exit(
    times, opens, highs, lows, closes, bar_start, bar_stop, timeframe_ns,
    entry_ns, entry_price, direction, stop_loss, risk_reward_ratio, leverage, max_hold_ns,
    logged_exit_ns, logged_exit_price, logged_exit_binds, maintenance_margin_rate,
):  # fmt: skip
    """Find where one trade exits under one set of parameters.

    Returns ``(exit_ns, exit_price, reason)``. ``max_hold_ns`` < 0 means no limit. When
    ``logged_exit_binds`` the trade leaves at the logged time and price (reason SIGNAL) unless a level
    or ``max_hold`` is reached in a bar that ends at or before the logged exit.
    """
    stop_price = entry_price * (1.0 - direction * stop_loss)
    take_price = entry_price * (1.0 + direction * stop_loss * risk_reward_ratio)
    liquidation_price = entry_price * (1.0 - direction * (1.0 / leverage - maintenance_margin_rate))
    liquidation_first = direction * (liquidation_price - stop_price) >= 0.0
    deadline = entry_ns + max_hold_ns if max_hold_ns >= 0 else NO_LIMIT

    first = bar_start + np.searchsorted(times[bar_start:bar_stop], entry_ns)
    for j in range(first, bar_stop):
        bar_close_ns = times[j] + timeframe_ns
        if logged_exit_binds and bar_close_ns > logged_exit_ns:
            break
        open_ = opens[j]
        adverse = lows[j] if direction > 0 else highs[j]
        favourable = highs[j] if direction > 0 else lows[j]
        if liquidation_first:
            if direction * (adverse - liquidation_price) <= 0.0:
                fill = open_ if direction * (open_ - liquidation_price) <= 0.0 else liquidation_price
                return times[j], fill, LIQUIDATION
        else:
            if direction * (open_ - liquidation_price) <= 0.0:
                return times[j], open_, LIQUIDATION
            if direction * (adverse - stop_price) <= 0.0:
                fill = open_ if direction * (open_ - stop_price) <= 0.0 else stop_price
                return times[j], fill, STOP_LOSS
        if direction * (favourable - take_price) >= 0.0:
            fill = open_ if direction * (open_ - take_price) >= 0.0 else take_price
            return times[j], fill, TAKE_PROFIT
        if bar_close_ns >= deadline:
            return bar_close_ns, closes[j], TIME
    if logged_exit_binds:
        return logged_exit_ns, logged_exit_price, SIGNAL
    last = bar_stop - 1
    return times[last] + timeframe_ns, closes[last], END_OF_DATA


@njit(cache=True)
def replay_trades(
    times, opens, highs, lows, closes, bar_start, bar_stop, timeframe_ns,
    entry_ns, entry_price, direction, logged_exit_ns, logged_exit_price, logged_exit_binds,
    stop_loss, risk_reward_ratio, leverage, max_hold_ns, maintenance_margin_rate, fee,
):  # fmt: skip
    """Replay N trades, each with its own parameters (arrays of length N).

    Returns ``(exit_ns, exit_price, reason, margin_return)`` arrays of length N. A liquidation's
    return is -1 (the whole margin).
    """
    n = entry_ns.shape[0]
    exit_ns = np.empty(n, dtype=np.int64)
    exit_price = np.empty(n, dtype=np.float64)
    reason = np.empty(n, dtype=np.int8)
    returns = np.empty(n, dtype=np.float64)
    for i in range(n):
        t, price, why = scan_exit(
            times, opens, highs, lows, closes, bar_start[i], bar_stop[i], timeframe_ns[i],
            entry_ns[i], entry_price[i], direction[i], stop_loss[i], risk_reward_ratio[i], leverage[i],
            max_hold_ns[i], logged_exit_ns[i], logged_exit_price[i], logged_exit_binds[i],
            maintenance_margin_rate,
        )  # fmt: skip
        exit_ns[i] = t
        exit_price[i] = price
        reason[i] = why
        if why == LIQUIDATION:
            returns[i] = -1.0
        else:
            returns[i] = margin_return(direction[i], leverage[i], entry_price[i], price, fee)
    return exit_ns, exit_price, reason, returns
