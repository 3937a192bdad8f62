"""The replay's rules in vectorbt, where vectorbt can express them: the reference the kernels are held to.

Trades of one symbol that never overlap, entered on a signal at a bar's close (our trade enters at the
next bar's open time at that close, so both engines start checking stops on the same bar) and left on a
signal at a later bar's close (a logged ``signal`` exit); one column per candidate (leverage, stop_loss,
risk_reward_ratio). Leverage L is emulated by percent-of-cash sizing ``L x position_size x (1 + fee)``:
vectorbt's percent size is the cash spent including the entry fee, and our margin is the realised
equity's ``position_size`` share, so ``L x position_size x (1 + fee)`` must stay <= 1.

What vectorbt cannot express, and so is not checked this way: liquidation, exit reasons, ``max_hold``,
per-regime parameters, the confidence filter, strategy weights, funding, overlapping trades.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def signal_portfolio(
    frame: pd.DataFrame,
    entry_bars: np.ndarray,
    exit_bars: np.ndarray,
    shorts: np.ndarray,
    grid: pd.MultiIndex,
    position_size: np.ndarray,
    fee: float,
    initial_equity: float,
    freq: pd.Timedelta,
) -> Any:
    """``vectorbt.Portfolio.from_signals`` over ``frame`` (OHLC) with one column per ``grid`` row.

    ``grid`` has the levels ``leverage``, ``stop_loss``, ``risk_reward``; ``position_size`` is one value
    per grid row. Imported lazily: vectorbt takes seconds to import.
    """
    import vectorbt as vbt

    def flags(bars: np.ndarray) -> pd.Series:
        marked = np.zeros(len(frame), dtype=bool)
        marked[bars] = True
        return pd.Series(marked, index=frame.index)

    leverage = grid.get_level_values("leverage").to_numpy(np.float64)
    stop_loss = grid.get_level_values("stop_loss").to_numpy(np.float64)
    risk_reward = grid.get_level_values("risk_reward").to_numpy(np.float64)
    return vbt.Portfolio.from_signals(
        frame["close"],
        entries=flags(entry_bars[~shorts]),
        exits=flags(exit_bars[~shorts]),
        short_entries=flags(entry_bars[shorts]),
        short_exits=flags(exit_bars[shorts]),
        open=frame["open"],
        high=frame["high"],
        low=frame["low"],
        sl_stop=stop_loss[None],
        tp_stop=(stop_loss * risk_reward)[None],
        size=(leverage * position_size * (1.0 + fee))[None],
        size_type="percent",
        fees=fee,
        init_cash=initial_equity,
        stop_entry_price="fillprice",
        upon_opposite_entry="ignore",
        accumulate=False,
        freq=freq,
        broadcast_kwargs={"columns_from": grid},
    )
