"""Per-trade features for the tuners' models, built from the trade log and, optionally, the candles.

One row per trade, every column ``float64`` (NaN where a value is unknown), named by category:

- ``time_*``: UTC entry hour and weekday (Monday = 0); the holding time in hours (outcome).
- ``market_*`` (NaN without candles): ATR as a percent of close and its percentile rank, the regime
  code and how many bars it has lasted, all as known from the last bar CLOSED at or before entry;
  whether the regime changed by exit (outcome).
- ``perf_*``: win rate, mean return and count of the same strategy's and the same symbol's trades that
  EXITED strictly before this trade's entry.
- ``risk_*``: confidence, its percentile among earlier entries, the logged target R:R; the realised
  move in stop distances (outcome).
- ``context_*``: direction (+1 long, -1 short), leverage and stake (quote currency).
- ``forecast_*``: the bot's forecast and, over trades exited before entry, its mean absolute error and
  its sign hit rate.
- ``outcome_return`` / ``outcome_efficiency``: the tuners' targets (outcome).

Units: returns, rates and ranks are fractions (0-1); ``market_atr_pct`` alone is a percent (the
project's rule: only a name that says ``pct`` holds percent); ``market_regime_code`` indexes
:data:`framework.regimes.REGIMES`. ATR, its rank and the regimes come from the classifier's own
kernels with the same :class:`~framework.regimes.RegimeParams`, so they agree with the labels.

Columns in :attr:`FeatureSet.entry_columns` are known at entry and safe as model inputs; those in
:attr:`FeatureSet.outcome_columns` are known only after exit and must never be one.

The ``market_*`` columns depend on a trade's symbol and times only: their per-bar series
(:class:`MarketBars`) are computed once per symbol and every window of a tune reads them. The
``perf_*``, ``risk_confidence_rank`` and ``forecast_prior_*`` columns depend on which trades the log
holds (a trade left out of a window, e.g. purged, is not among the earlier ones), so each window
computes them on its own trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.jit import njit
from framework.market import TIMEFRAMES, Market
from framework.regimes import (
    REGIMES,
    RegimeLabels,
    RegimeParams,
    trailing_rank_nb,
    true_range_nb,
    wilder_nb,
)

REQUIRED_COLUMNS: tuple[str, ...] = (
    "symbol",
    "side",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "confidence",
)

ENTRY_COLUMNS: tuple[str, ...] = (
    "time_hour",
    "time_weekday",
    "market_atr_pct",
    "market_atr_rank",
    "market_regime_code",
    "market_bars_in_regime",
    "perf_strategy_win_rate",
    "perf_strategy_mean_return",
    "perf_strategy_count",
    "perf_symbol_win_rate",
    "perf_symbol_mean_return",
    "perf_symbol_count",
    "risk_confidence",
    "risk_confidence_rank",
    "risk_target_rr",
    "context_direction",
    "context_leverage",
    "context_stake",
    "forecast_return",
    "forecast_prior_mae",
    "forecast_prior_hit_rate",
)
"""Features known at entry, in the frame's column order."""

OUTCOME_COLUMNS: tuple[str, ...] = (
    "time_duration_h",
    "market_regime_changed",
    "risk_realised_r",
    "outcome_return",
    "outcome_efficiency",
)
"""Columns known only after exit: descriptive statistics and model targets, never model inputs."""

_NANOS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Features of a trade log.

    ``frame`` has one row per trade on the index of the trades given, the columns
    ``ENTRY_COLUMNS + OUTCOME_COLUMNS``, all float64.
    """

    frame: pd.DataFrame
    entry_columns: tuple[str, ...]
    """Known at entry: safe as model inputs."""
    outcome_columns: tuple[str, ...]
    """Known only after exit (duration, realised R, the targets): descriptive only."""

    @property
    def entry(self) -> pd.DataFrame:
        """The model inputs: ``frame`` restricted to :attr:`entry_columns`."""
        return self.frame[list(self.entry_columns)]


_MARKET_COLUMNS = ("market_atr_pct", "market_atr_rank", "market_regime_code", "market_bars_in_regime")


class MarketBars:
    """The per-bar series behind the ``market_*`` features of each symbol, computed on a symbol's
    first use and kept, so that every window of a tune reads them from one pass over the candles.

    Per bar, as known when it closes: ATR as a percent of close, its trailing rank, the regime code
    (from ``labels``, :func:`framework.regimes.classify` of the whole candles) and the bars it has
    lasted. Every one is causal, so a bar's values are those any prefix of the candles would give.
    """

    def __init__(self, labels: RegimeLabels):
        self.labels = labels
        self._bars: dict[str, tuple[dict[str, np.ndarray], pd.Index, pd.Timedelta]] = {}

    @property
    def market(self) -> Market:
        return self.labels.market

    def for_symbol(self, symbol: str) -> tuple[dict[str, np.ndarray], pd.Index, pd.Timedelta]:
        """(series by ``market_*`` column, the bars' open times, the bar length) of ``symbol``."""
        if symbol not in self._bars:
            candles = self.market.for_symbol(symbol)
            per_bar = self._series(candles.frame, symbol) if len(candles.frame) else {}
            self._bars[symbol] = (per_bar, candles.frame.index, TIMEFRAMES[candles.timeframe])
        return self._bars[symbol]

    def _series(self, frame: pd.DataFrame, symbol: str) -> dict[str, np.ndarray]:
        params = self.labels.params
        high, low, close = (np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64)) for c in ("high", "low", "close"))
        atr = wilder_nb(true_range_nb(high, low, close), params.atr_period, 0)
        atr_fraction = atr / close
        rank, _ = trailing_rank_nb(atr_fraction, params.vol_window, params.vol_min_periods)
        regime = pd.Categorical(self.labels.for_symbol(symbol), categories=list(REGIMES)).codes.astype(np.int64)
        return {
            "market_atr_pct": 100.0 * atr_fraction,
            "market_atr_rank": rank,
            "market_regime_code": np.where(regime >= 0, regime, np.nan),
            "market_bars_in_regime": np.where(regime >= 0, _run_lengths(regime), np.nan),
        }


def build_features(
    trades: pd.DataFrame,
    market: Market | None = None,
    *,
    params: RegimeParams | None = None,
    bars: MarketBars | None = None,
) -> FeatureSet:
    """Features of every trade of a canonical trade log (see the module docstring for the columns).

    ``trades`` needs ``symbol, side, entry_time, exit_time, entry_price, exit_price, confidence``
    (times UTC; an open trade's ``exit_time`` is NaT and gives NaN outcomes) and may have the optional
    trade-log columns; an absent one counts as empty (``leverage`` as 1, ``strategy`` as "default").
    ``market`` gives the ``market_*`` columns (NaN without it); regimes there come from
    :func:`framework.regimes.classify` with ``params`` on each symbol's candles, as
    :func:`framework.regimes.label_trades` computes them, whatever the log's ``regime`` column says.
    ``ValueError`` when a required column is missing or a side is neither long nor short; an
    ``InputError`` when ``market`` has no candles for a symbol. ``bars`` (of ``market``, with
    ``params``) reuses the per-bar market series already computed instead of computing them again.

    Returns are fractions: ``outcome_return`` is the return on margin, ``pnl / stake`` where both are
    logged, else the price return x leverage x direction (before fees); ``outcome_efficiency`` is
    ``outcome_return / leverage``.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in trades.columns]
    if missing:
        raise ValueError(f"trades lack columns {missing}; build_features needs {list(REQUIRED_COLUMNS)}")
    sides = trades["side"].astype("str")
    unknown = sorted(set(sides[~sides.isin(["long", "short"])].astype(str)))
    if unknown:
        raise ValueError(f"trades have sides {unknown}; a side is 'long' or 'short'")

    n = len(trades)
    entry_times = pd.DatetimeIndex(pd.to_datetime(trades["entry_time"], utc=True)).as_unit("ns")
    exit_times = pd.DatetimeIndex(pd.to_datetime(trades["exit_time"], utc=True)).as_unit("ns")
    if entry_times.isna().any():
        raise ValueError("trades have a missing entry_time")
    entry_ns = entry_times.asi8
    exit_ns = exit_times.asi8
    closed = ~exit_times.isna()
    direction = np.where(sides.to_numpy(dtype=object) == "short", -1.0, 1.0)
    entry_price = _numbers(trades, "entry_price")
    exit_price = _numbers(trades, "exit_price")
    leverage = _numbers(trades, "leverage", default=1.0)
    stake = _numbers(trades, "stake")
    pnl = _numbers(trades, "pnl")
    stop_loss = _numbers(trades, "stop_loss")
    take_profit = _numbers(trades, "take_profit")
    forecast = _numbers(trades, "forecast_return")
    confidence = _numbers(trades, "confidence")
    symbols = trades["symbol"].astype("str").to_numpy(dtype=object)
    strategies = _labels(trades, "strategy", default="default")

    move = np.where(closed, direction * (exit_price - entry_price) / entry_price, np.nan)
    logged = np.isfinite(pnl) & (stake > 0)
    outcome_return = np.where(logged, pnl / np.where(logged, stake, 1.0), move * leverage)
    stop_distance = np.abs(entry_price - stop_loss)
    stop_distance = np.where(stop_distance > 0, stop_distance, np.nan)

    columns: dict[str, np.ndarray] = {
        "time_hour": entry_times.hour.to_numpy(dtype=np.float64),
        "time_weekday": entry_times.day_of_week.to_numpy(dtype=np.float64),
    }
    if market is not None:
        if bars is None:
            bars = MarketBars(RegimeLabels(market, params))
        bars.labels.check(market, params)
        columns.update(_market_features(symbols, entry_times, exit_times, bars))
    else:
        columns.update({name: np.full(n, np.nan) for name in (*_MARKET_COLUMNS, "market_regime_changed")})
    win = (outcome_return > 0).astype(np.float64)
    usable = closed & np.isfinite(outcome_return)
    for group, labels in (("strategy", strategies), ("symbol", pd.factorize(symbols)[0])):
        count, sums = _prior_sums(labels, entry_ns, exit_ns, usable, np.column_stack((win, outcome_return)))
        columns[f"perf_{group}_win_rate"] = _ratio(sums[:, 0], count)
        columns[f"perf_{group}_mean_return"] = _ratio(sums[:, 1], count)
        columns[f"perf_{group}_count"] = count.astype(np.float64)
    columns["risk_confidence"] = confidence
    columns["risk_confidence_rank"] = _expanding_rank(entry_ns, confidence)
    columns["risk_target_rr"] = np.abs(take_profit - entry_price) / stop_distance
    columns["context_direction"] = direction
    columns["context_leverage"] = leverage
    columns["context_stake"] = stake
    columns["forecast_return"] = forecast
    errors = np.column_stack((np.abs(forecast - move), (np.sign(forecast) == np.sign(move)).astype(np.float64)))
    forecasted = closed & np.isfinite(forecast)
    count, sums = _prior_sums(np.zeros(n, dtype=np.int64), entry_ns, exit_ns, forecasted, errors)
    columns["forecast_prior_mae"] = _ratio(sums[:, 0], count)
    columns["forecast_prior_hit_rate"] = _ratio(sums[:, 1], count)
    columns["time_duration_h"] = np.where(closed, (exit_ns - entry_ns) / _NANOS_PER_HOUR, np.nan)
    columns["risk_realised_r"] = direction * (exit_price - entry_price) / stop_distance
    columns["outcome_return"] = outcome_return
    columns["outcome_efficiency"] = outcome_return / leverage

    frame = pd.DataFrame(
        {name: np.asarray(columns[name], dtype=np.float64) for name in ENTRY_COLUMNS + OUTCOME_COLUMNS},
        index=trades.index,
    )
    return FeatureSet(frame=frame, entry_columns=ENTRY_COLUMNS, outcome_columns=OUTCOME_COLUMNS)


# --- market -----------------------------------------------------------------------------------------


def _market_features(
    symbols: np.ndarray, entry_times: pd.DatetimeIndex, exit_times: pd.DatetimeIndex, bars: MarketBars
) -> dict[str, np.ndarray]:
    n = len(symbols)
    out = {name: np.full(n, np.nan) for name in (*_MARKET_COLUMNS, "market_regime_changed")}
    for symbol in pd.unique(symbols):
        rows = np.flatnonzero(symbols == symbol)
        per_bar, opens, length = bars.for_symbol(str(symbol))
        if len(opens) == 0:
            continue
        at_entry = _closed_bar(opens, length, entry_times[rows])
        at_exit = _closed_bar(opens, length, exit_times[rows])
        for name in _MARKET_COLUMNS:
            out[name][rows] = _take(per_bar[name], at_entry)
        entry_code = _take(per_bar["market_regime_code"], at_entry)
        exit_code = _take(per_bar["market_regime_code"], at_exit)
        known = np.isfinite(entry_code) & np.isfinite(exit_code)
        out["market_regime_changed"][rows] = np.where(known, (entry_code != exit_code).astype(np.float64), np.nan)
    return out


def _closed_bar(opens: pd.Index, length: pd.Timedelta, times: pd.DatetimeIndex) -> np.ndarray:
    """Position of the last bar closed at or before each time; -1 before the first close, for NaT and
    past the candles' reach (one bar after the last close), as :func:`framework.regimes.regime_at`."""
    stamps = pd.DatetimeIndex(opens)
    stamps = stamps.tz_convert("UTC") if stamps.tz is not None else stamps.tz_localize("UTC")
    closes = (stamps + length).as_unit("ns")
    position = closes.searchsorted(times, side="right") - 1
    usable = (position >= 0) & ~times.isna() & (times <= closes[-1] + length)
    return np.where(usable, position, -1)


def _take(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.where(positions >= 0, values[np.clip(positions, 0, None)], np.nan)


def _run_lengths(codes: np.ndarray) -> np.ndarray:
    """Per bar, how many consecutive bars up to and including it carry its code (>= 1)."""
    bars = np.arange(codes.size)
    starts = np.ones(codes.size, dtype=bool)
    starts[1:] = codes[1:] != codes[:-1]
    run_start = np.maximum.accumulate(np.where(starts, bars, 0))
    return (bars - run_start + 1).astype(np.float64)


# --- expanding statistics without look-ahead -----------------------------------------------------------


def _prior_sums(
    groups: np.ndarray, entry_ns: np.ndarray, exit_ns: np.ndarray, usable: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per trade, the count and the column sums of ``values`` over the ``usable`` trades of its group
    that exited strictly before its entry (times in int64 ns)."""
    count = np.zeros(len(groups), dtype=np.int64)
    sums = np.zeros(values.shape, dtype=np.float64)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        done = members[usable[members]]
        done = done[np.argsort(exit_ns[done], kind="stable")]
        cumulative = np.zeros((done.size + 1, values.shape[1]))
        np.cumsum(values[done], axis=0, out=cumulative[1:])
        seen = np.searchsorted(exit_ns[done], entry_ns[members], side="left")
        count[members] = seen
        sums[members] = cumulative[seen]
    return count, sums


def _ratio(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _expanding_rank(entry_ns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per trade, the share (0-1) of trades that entered strictly earlier with a lower value, ties
    counting half; NaN for the first entries and for NaN values (which are not counted either)."""
    order = np.argsort(entry_ns, kind="stable")
    finite = np.isfinite(values)
    codes = np.full(values.size, -1, dtype=np.int64)
    distinct, codes[finite] = np.unique(values[finite], return_inverse=True)
    ranked = _expanding_rank_nb(entry_ns[order], codes[order], distinct.size)
    out = np.empty(values.size)
    out[order] = ranked
    return out


@njit(cache=True)
def _expanding_rank_nb(times: np.ndarray, codes: np.ndarray, distinct: int) -> np.ndarray:
    """Ranks for rows sorted by time: ``codes`` index the sorted distinct values (-1 = missing).
    A Fenwick tree counts the codes of rows with strictly earlier times."""
    n = times.shape[0]
    tree = np.zeros(distinct + 1, dtype=np.int64)
    out = np.full(n, np.nan)
    inserted = 0
    start = 0
    while start < n:
        stop = start
        while stop < n and times[stop] == times[start]:
            stop += 1
        if inserted > 0:
            for i in range(start, stop):
                code = codes[i]
                if code < 0:
                    continue
                below = 0
                k = code  # codes 0..code-1 sit at tree positions 1..code
                while k > 0:
                    below += tree[k]
                    k -= k & -k
                at_or_below = 0
                k = code + 1
                while k > 0:
                    at_or_below += tree[k]
                    k -= k & -k
                out[i] = (below + 0.5 * (at_or_below - below)) / inserted
        for i in range(start, stop):
            code = codes[i]
            if code < 0:
                continue
            inserted += 1
            k = code + 1
            while k <= distinct:
                tree[k] += 1
                k += k & -k
        start = stop
    return out


# --- columns --------------------------------------------------------------------------------------


def _numbers(trades: pd.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    if name not in trades.columns:
        return np.full(len(trades), default)
    values = trades[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(values), default, values)


def _labels(trades: pd.DataFrame, name: str, default: str) -> np.ndarray:
    """Integer codes of a text column (NA counts as ``default``), for grouping."""
    if name not in trades.columns:
        return np.zeros(len(trades), dtype=np.int64)
    text = trades[name].astype("str").fillna(default)
    return pd.factorize(text)[0].astype(np.int64)
