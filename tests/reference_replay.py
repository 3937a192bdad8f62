"""A plain-Python replay that follows docs/REPLAY.md word for word, to hold the numba kernels to it.

Deliberately slow and simple: loops over trades, bars and funding times, plain floats and timestamps,
and nothing from ``framework.replay``. It covers "One trade" (rules 1-7) and the portfolio's sizing
(``margin``, ``pnl``); the daily equity and the metrics are not part of it. It assumes valid input
(every symbol has candles, no entry after the last candle); the errors for bad input are tested
through ``replay()`` itself.

Where the doc leaves a choice open, the reference takes this reading:
- "opened beyond" a level includes opening exactly at it, like "reaching": at the level the open and
  the level are the same fill, and a bar opening at the liquidation price has reached it;
- a liquidation's return is exactly -1, funding or not (rule 6 says so; rule 7 only ever floors);
- "a ruined account sizes every later trade at 0" is the equity realised before each entry being
  <= 0; realised equity is summed over the trades that exited strictly before the entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from framework.config import ReplaySettings
from framework.market import TIMEFRAMES, Market
from framework.playbook import Playbook

RESULT_COLUMNS = ("trade_id", "taken", "exit_time", "exit_price", "exit_reason", "return", "margin", "pnl")
INITIAL_EQUITY = 10_000.0
# Logged exits caused by the parameters being tuned: the replay looks for the exit anew.
NON_BINDING_EXIT_REASONS = ("stop_loss", "take_profit", "liquidation", "roi")
# The trade-log columns the replay reads, shown when an outcome differs.
_INPUT_COLUMNS = (
    "trade_id", "symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price",
    "confidence", "regime", "strategy", "exit_reason", "fee_open", "fee_close",
)  # fmt: skip


@dataclass(frozen=True)
class Bar:
    """One candle; times are UTC timestamps, the close time is the open time plus the timeframe."""

    open_time: pd.Timestamp
    close_time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class Exit:
    time: pd.Timestamp
    price: float
    reason: str


def reference_replay(
    trades: pd.DataFrame,
    market: Market,
    playbook: Playbook,
    settings: ReplaySettings,
    initial_equity: float = INITIAL_EQUITY,
) -> pd.DataFrame:
    """Replay ``trades`` (a canonical trade log) as docs/REPLAY.md says: the frame ``replay()`` returns,
    one row per trade in the frame's order (``RESULT_COLUMNS``; not-taken trades have empty exits)."""
    records = trades.to_dict("records")
    bars_by_symbol: dict[str, list[Bar]] = {}
    rows: list[dict[str, Any]] = []
    for trade in records:
        parameters = parameters_for(playbook, trade["regime"])
        row: dict[str, Any] = {"trade_id": trade["trade_id"], "taken": False}
        rows.append(row)
        if trade["confidence"] < parameters["confidence_threshold"]:
            continue
        symbol = trade["symbol"]
        if symbol not in bars_by_symbol:
            bars_by_symbol[symbol] = bars_of(market, symbol)
        fees = trade_fees(trade, settings.fee)
        exit_ = find_exit(trade, bars_by_symbol[symbol], parameters, settings.maintenance_margin_rate, fees)
        if exit_.reason == "liquidation":
            result = -1.0
        else:
            d = direction_of(trade["side"])
            result = margin_return(d, parameters["leverage"], trade["entry_price"], exit_.price, *fees)
            if settings.funding and symbol in market.funding:
                rates = funding_rates(market, symbol, trade["entry_time"], exit_.time)
                result = max(result - d * parameters["leverage"] * rates, -1.0)
        row.update(taken=True, exit_time=exit_.time, exit_price=exit_.price, exit_reason=exit_.reason)
        row["return"] = result

    realised_pnl: list[tuple[pd.Timestamp, float]] = []  # (exit time, pnl) of the trades sized so far
    for position in sorted(range(len(records)), key=lambda p: records[p]["entry_time"]):
        trade, row = records[position], rows[position]
        if not row["taken"]:
            continue
        equity = initial_equity + sum(pnl for exited, pnl in realised_pnl if exited < trade["entry_time"])
        share = parameters_for(playbook, trade["regime"])["position_size"] * strategy_weight(
            playbook, trade["strategy"]
        )
        row["margin"] = share * equity if equity > 0 else 0.0
        row["pnl"] = row["margin"] * row["return"]
        realised_pnl.append((row["exit_time"], row["pnl"]))

    def column(name: str, missing: Any) -> list[Any]:
        return [row.get(name, missing) for row in rows]

    return pd.DataFrame(
        {
            "trade_id": pd.Series(column("trade_id", None), dtype=object),
            "taken": pd.Series(column("taken", False), dtype=bool),
            "exit_time": pd.Series(column("exit_time", pd.NaT), dtype="datetime64[ns, UTC]"),
            "exit_price": pd.Series(column("exit_price", np.nan), dtype="float64"),
            "exit_reason": pd.Series(column("exit_reason", None), dtype=object),
            "return": pd.Series(column("return", np.nan), dtype="float64"),
            "margin": pd.Series(column("margin", np.nan), dtype="float64"),
            "pnl": pd.Series(column("pnl", np.nan), dtype="float64"),
        }
    )


def parameters_for(playbook: Playbook, regime: Any) -> dict[str, Any]:
    """The regime's block over the default block; the default alone for no regime or an unlisted one."""
    parameters = dict(vars(playbook.default))
    if not pd.isna(regime) and regime in playbook.overrides:
        parameters.update(playbook.overrides[regime])
    return parameters


def strategy_weight(playbook: Playbook, strategy: str) -> float:
    """The strategy's weight from ``strategy_weights``; 1 when the playbook does not list it."""
    weight: float = playbook.strategy_weights.get(strategy, 1.0)
    return weight


def bars_of(market: Market, symbol: str) -> list[Bar]:
    """The symbol's candles as bars, in time order; a missing bar is simply not in the list."""
    candles = market.candles[symbol]
    length = TIMEFRAMES[candles.timeframe]
    return [
        Bar(open_time, open_time + length, float(row.open), float(row.high), float(row.low), float(row.close))
        for open_time, row in zip(candles.frame.index, candles.frame.itertuples(), strict=True)
    ]


def funding_rates(market: Market, symbol: str, entry: pd.Timestamp, exit_: pd.Timestamp) -> float:
    """Rule 7: the sum of the symbol's funding rates with a funding time in (entry, exit]."""
    series = market.funding[symbol].frame
    return sum(
        (float(rate) for time, rate in zip(series.index, series["open"], strict=True) if entry < time <= exit_),
        0.0,
    )


def trade_fees(trade: dict[str, Any], configured: float) -> tuple[float, float]:
    """The trade's (entry, exit) fee: the log's ``fee_open`` / ``fee_close``, else the configured fee."""

    def fee(column: str) -> float:
        value = trade.get(column)
        return configured if value is None or pd.isna(value) else float(value)

    return fee("fee_open"), fee("fee_close")


def profit_ratio(d: int, leverage: float, entry: float, price: float, fees: tuple[float, float]) -> float:
    """freqtrade's ``calc_profit_ratio`` (futures, no funding): the close value net of the exit fee over
    the open value with the entry fee, x leverage, rounded to 8 decimals."""
    fee_open, fee_close = fees
    open_value = entry * (1 + d * fee_open)
    close_value = price * (1 - d * fee_close)
    return round(d * (close_value / open_value - 1) * leverage, 8)


def roi_fill(trade: dict[str, Any], bar: Bar, parameters: dict[str, Any], fees: tuple[float, float]) -> float | None:
    """freqtrade's ROI exit in one bar (``min_roi_reached``, ``_get_close_rate_for_roi``): its fill, or None."""
    table = parameters["minimal_roi"]
    if table is None:
        return None
    d = direction_of(trade["side"])
    e, leverage = trade["entry_price"], parameters["leverage"]
    duration = (bar.open_time - trade["entry_time"]) // pd.Timedelta(minutes=1)
    in_force = [(minutes, ratio) for minutes, ratio in table if minutes <= duration]
    if not in_force:
        return None
    minutes, ratio = in_force[-1]
    if ratio != -1:
        ratio *= parameters["minimal_roi_scale"]
    favourable = bar.high if d == 1 else bar.low
    if not profit_ratio(d, leverage, e, favourable, fees) > ratio:
        return None
    bar_minutes = (bar.close_time - bar.open_time) // pd.Timedelta(minutes=1)
    on_bar_open = bar_minutes > 0 and minutes % bar_minutes == 0
    if ratio == -1 and on_bar_open:
        return bar.open
    fee_open, fee_close = fees
    close_rate = e * (1 + d * fee_open) * (1 + d * ratio / leverage) / (1 - d * fee_close)
    if duration > 0 and duration == minutes and on_bar_open and d * (bar.open - close_rate) > 0:
        return bar.open
    red_for_the_side = d * (bar.open - bar.close) > 0 and d * (bar.open - e) > 0 and d * (close_rate - bar.close) > 0
    if duration == 0 and red_for_the_side:
        return None
    return min(max(close_rate, bar.low), bar.high)


def direction_of(side: str) -> int:
    return 1 if side == "long" else -1


def find_exit(
    trade: dict[str, Any],
    bars: list[Bar],
    parameters: dict[str, Any],
    maintenance_margin_rate: float,
    fees: tuple[float, float],
) -> Exit:
    """Rules 2-5 of docs/REPLAY.md for one taken trade (rule 4's trailing stop and ROI included)."""
    d = direction_of(trade["side"])
    e = trade["entry_price"]
    stop = e * (1 - d * parameters["stop_loss"])
    rr = parameters["risk_reward_ratio"]
    take = None if rr is None else e * (1 + d * parameters["stop_loss"] * rr)
    liquidation = e * (1 - d * (1 / parameters["leverage"] - maintenance_margin_rate))

    def beyond_adverse(price: float, level: float) -> bool:
        return price <= level if d == 1 else price >= level

    def beyond_favourable(price: float, level: float) -> bool:
        return price >= level if d == 1 else price <= level

    liquidation_at_or_nearer_than_stop = beyond_favourable(liquidation, stop)
    max_hold = parameters["max_hold"]
    deadline = None if max_hold is None else trade["entry_time"] + max_hold
    binds = trade["exit_reason"] not in NON_BINDING_EXIT_REASONS

    trailing = parameters["trailing_stop"]
    best = e
    trail = stop
    floor = liquidation if liquidation_at_or_nearer_than_stop else stop
    positive = parameters["trailing_stop_positive"]

    scanned = [
        bar
        for bar in bars
        if bar.open_time >= trade["entry_time"] and (not binds or bar.close_time <= trade["exit_time"])
    ]
    for number, bar in enumerate(scanned):
        adverse = bar.low if d == 1 else bar.high
        favourable = bar.high if d == 1 else bar.low
        if trailing and beyond_adverse(adverse, trail):
            # reached as it stands: freqtrade moves no stop in this bar (it trails only a stop beyond the bar)
            if beyond_favourable(trail, floor) and trail != floor:
                roi = roi_fill(trade, bar, parameters, fees)
                if roi is not None:  # freqtrade checks ROI before a stop that has trailed
                    return Exit(bar.open_time, roi, "roi")
                return Exit(bar.open_time, bar.open if beyond_adverse(bar.open, trail) else trail, "stop_loss")
        elif trailing:
            in_force = trail
            if beyond_favourable(favourable, best) and favourable != best:
                best = favourable
            # the offset is freqtrade's, per unit of leverage: the fee-inclusive profit ratio at the best price
            moved = d * (best * (1 - d * fees[1]) / (e * (1 + d * fees[0])) - 1)
            activated = positive is not None and moved > parameters["trailing_stop_positive_offset"]
            distance = positive if activated else parameters["stop_loss"]
            level = best * (1 - d * distance)
            if beyond_favourable(level, trail) and level != trail:
                trail = level
            if beyond_favourable(trail, floor) and trail != floor and beyond_adverse(adverse, trail):
                roi = roi_fill(trade, bar, parameters, fees)
                if roi is not None:  # freqtrade checks ROI before a stop that has trailed
                    return Exit(bar.open_time, roi, "roi")
                if beyond_adverse(bar.open, in_force):
                    return Exit(bar.open_time, bar.open, "stop_loss")
                if number == 0:
                    worst = bar.open * (1 - d * distance)
                    return Exit(bar.open_time, min(max(worst, bar.low), bar.high), "stop_loss")
                return Exit(bar.open_time, trail, "stop_loss")
        if liquidation_at_or_nearer_than_stop:
            if beyond_adverse(adverse, liquidation):
                fill = bar.open if beyond_adverse(bar.open, liquidation) else liquidation
                return Exit(bar.open_time, fill, "liquidation")
        else:
            if beyond_adverse(bar.open, liquidation):
                return Exit(bar.open_time, bar.open, "liquidation")
            if beyond_adverse(adverse, stop):
                fill = bar.open if beyond_adverse(bar.open, stop) else stop
                return Exit(bar.open_time, fill, "stop_loss")
        roi = roi_fill(trade, bar, parameters, fees)
        if roi is not None:
            return Exit(bar.open_time, roi, "roi")
        if take is not None and beyond_favourable(favourable, take):
            fill = bar.open if beyond_favourable(bar.open, take) else take
            return Exit(bar.open_time, fill, "take_profit")
        if deadline is not None and bar.close_time >= deadline:
            return Exit(bar.close_time, bar.close, "time")
    if binds:
        return Exit(trade["exit_time"], trade["exit_price"], "signal")
    return Exit(bars[-1].close_time, bars[-1].close, "end_of_data")


def margin_return(
    direction: int, leverage: float, entry: float, exit_: float, fee_open: float, fee_close: float
) -> float:
    """Rule 6: return on margin after the entry's and the exit's fee, floored at -1 (fraction)."""
    r = leverage * direction * (exit_ / entry - 1) - leverage * (fee_open + fee_close * exit_ / entry)
    return max(r, -1.0)


def assert_same_outcomes(got: pd.DataFrame, expected: pd.DataFrame, trades: pd.DataFrame) -> None:
    """Assert two replay results agree trade by trade.

    Ids, order and ``taken`` exactly. For taken trades: exit time and reason exactly, exit price to
    1e-12 relative, return to 1e-12 absolute, margin and pnl (quote currency, sums of pnl in any
    order) to 1e-9 relative or 1e-6 absolute. Not-taken trades have empty exit columns. ``trades`` is
    the log both were replayed from, for the messages.
    """
    assert list(got.columns) == list(RESULT_COLUMNS)
    assert len(got) == len(expected) == len(trades)
    assert got["trade_id"].tolist() == expected["trade_id"].tolist()
    assert got["taken"].tolist() == expected["taken"].tolist()
    for i in range(len(expected)):
        g, e = got.iloc[i], expected.iloc[i]
        trade = {column: trades[column].iloc[i] for column in _INPUT_COLUMNS}
        if not e["taken"]:
            assert pd.isna(g["exit_time"]) and pd.isna(g["exit_reason"]), trade
            assert all(math.isnan(g[c]) for c in ("exit_price", "return", "margin", "pnl")), trade
            continue
        where = f"trade {trade}\nreplay: {g.to_dict()}\nreference: {e.to_dict()}"
        assert g["exit_time"] == e["exit_time"], where
        assert g["exit_reason"] == e["exit_reason"], where
        assert math.isclose(g["exit_price"], e["exit_price"], rel_tol=1e-12, abs_tol=0.0), where
        assert abs(g["return"] - e["return"]) <= 1e-12, where
        for money in ("margin", "pnl"):
            assert math.isclose(g[money], e[money], rel_tol=1e-9, abs_tol=1e-6), where
