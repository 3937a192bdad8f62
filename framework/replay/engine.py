"""Pandas-facing side of the replay: trade log + candles + playbook in, per-trade outcomes out.

The flat arrays the kernels need are built once per (trades, market) pair by :func:`prepare` and
reused for every playbook replayed over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.config import ReplaySettings
from framework.errors import InputError, Problem
from framework.market import Market, timeframe_to_timedelta
from framework.playbook import TUNABLE_PARAMETERS, Playbook
from framework.replay import kernels

# Logged exits caused by the parameters being tuned do not bind a replay: it looks for the exit anew.
NON_BINDING_EXIT_REASONS = ("stop_loss", "take_profit", "liquidation")


@dataclass(frozen=True)
class ReplayInputs:
    """Flat arrays of N trades and the bars of their symbols (times in int64 ns, UTC)."""

    trade_id: np.ndarray
    regime: np.ndarray  # object array of str | None
    confidence: np.ndarray
    times: np.ndarray
    opens: np.ndarray
    highs: np.ndarray
    lows: np.ndarray
    closes: np.ndarray
    bar_start: np.ndarray
    bar_stop: np.ndarray
    timeframe_ns: np.ndarray
    entry_ns: np.ndarray
    entry_price: np.ndarray
    direction: np.ndarray
    logged_exit_ns: np.ndarray
    logged_exit_price: np.ndarray
    logged_exit_binds: np.ndarray


def prepare(trades: pd.DataFrame, market: Market) -> ReplayInputs:
    """Gather the arrays for replaying ``trades`` (a canonical trade log) over ``market``.

    Raises InputError naming the trade when its symbol has no candles or its entry lies after the
    symbol's last bar.
    """
    symbols = list(dict.fromkeys(trades["symbol"]))
    offsets: dict[str, tuple[int, int, int]] = {}
    parts: list[pd.DataFrame] = []
    position = 0
    for symbol in symbols:
        candles = market.for_symbol(symbol)
        step = int(timeframe_to_timedelta(candles.timeframe).value)
        offsets[symbol] = (position, position + len(candles.frame), step)
        parts.append(candles.frame)
        position += len(candles.frame)
    bars = pd.concat(parts) if parts else pd.DataFrame(columns=["open", "high", "low", "close"])

    starts = np.array([offsets[s][0] for s in trades["symbol"]], dtype=np.int64)
    stops = np.array([offsets[s][1] for s in trades["symbol"]], dtype=np.int64)
    steps = np.array([offsets[s][2] for s in trades["symbol"]], dtype=np.int64)
    times = _ns(bars.index)
    entry_ns = _ns(trades["entry_time"])
    last_close = times[np.maximum(stops - 1, 0)] + steps
    late = np.flatnonzero(entry_ns >= last_close)
    if late.size:
        raise InputError(
            Problem(
                file="trade log",
                field="entry_time",
                message=f"trade {trades['trade_id'].iloc[i]!r} enters after the last candle of "
                f"{trades['symbol'].iloc[i]} ({pd.Timestamp(last_close[i], tz='UTC')})",
            )
            for i in late
        )
    regimes = trades["regime"].astype(object).where(trades["regime"].notna(), None).to_numpy()
    return ReplayInputs(
        trade_id=trades["trade_id"].to_numpy(dtype=object),
        regime=regimes,
        confidence=trades["confidence"].to_numpy(dtype=np.float64),
        times=times,
        opens=bars["open"].to_numpy(dtype=np.float64),
        highs=bars["high"].to_numpy(dtype=np.float64),
        lows=bars["low"].to_numpy(dtype=np.float64),
        closes=bars["close"].to_numpy(dtype=np.float64),
        bar_start=starts,
        bar_stop=stops,
        timeframe_ns=steps,
        entry_ns=entry_ns,
        entry_price=trades["entry_price"].to_numpy(dtype=np.float64),
        direction=np.where(trades["side"].to_numpy() == "short", -1.0, 1.0),
        logged_exit_ns=_ns(trades["exit_time"]),
        logged_exit_price=trades["exit_price"].to_numpy(dtype=np.float64),
        logged_exit_binds=~trades["exit_reason"].isin(NON_BINDING_EXIT_REASONS).to_numpy(),
    )


def parameter_arrays(inputs: ReplayInputs, playbook: Playbook) -> dict[str, np.ndarray]:
    """Each trade's parameters under ``playbook`` (by the regime at its entry), as float arrays.

    ``max_hold_ns`` is -1 where the playbook sets no limit.
    """
    per_regime = {regime: playbook.parameters_for(regime) for regime in set(inputs.regime)}
    arrays = {
        name: np.array([getattr(per_regime[r], name) for r in inputs.regime], dtype=np.float64)
        for name in TUNABLE_PARAMETERS
    }
    max_hold = {r: p.max_hold for r, p in per_regime.items()}
    arrays["max_hold_ns"] = np.array(
        [-1 if (hold := max_hold[r]) is None else hold.value for r in inputs.regime], dtype=np.int64
    )
    return arrays


def replay(
    trades: pd.DataFrame, market: Market, playbook: Playbook, settings: ReplaySettings
) -> pd.DataFrame:
    """Replay ``trades`` under ``playbook``; one row per trade.

    Columns: ``trade_id, taken, exit_time, exit_price, exit_reason, return`` where ``return`` is the
    return on margin (fraction; -1 = margin lost). A trade below its regime's confidence threshold is
    not taken; its exit columns are empty.
    """
    inputs = prepare(trades, market)
    return replay_prepared(inputs, playbook, settings)


def replay_prepared(inputs: ReplayInputs, playbook: Playbook, settings: ReplaySettings) -> pd.DataFrame:
    """:func:`replay` over inputs already built by :func:`prepare`."""
    params = parameter_arrays(inputs, playbook)
    exit_ns, exit_price, reason, returns = kernels.replay_trades(
        inputs.times, inputs.opens, inputs.highs, inputs.lows, inputs.closes,
        inputs.bar_start, inputs.bar_stop, inputs.timeframe_ns,
        inputs.entry_ns, inputs.entry_price, inputs.direction,
        inputs.logged_exit_ns, inputs.logged_exit_price, inputs.logged_exit_binds,
        params["stop_loss"], params["risk_reward_ratio"], params["leverage"], params["max_hold_ns"],
        settings.maintenance_margin_rate, settings.fee,
    )  # fmt: skip
    taken = inputs.confidence >= params["confidence_threshold"]
    reasons = np.array(kernels.EXIT_REASON_NAMES, dtype=object)[reason]
    return pd.DataFrame(
        {
            "trade_id": inputs.trade_id,
            "taken": taken,
            "exit_time": pd.to_datetime(np.where(taken, exit_ns, np.iinfo(np.int64).min), utc=True),
            "exit_price": np.where(taken, exit_price, np.nan),
            "exit_reason": np.where(taken, reasons, None),
            "return": np.where(taken, returns, np.nan),
        }
    )


def _ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("ns").asi8.copy()
