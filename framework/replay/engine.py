"""Pandas-facing side of the replay: trade log + candles + candidate playbooks in, outcomes out.

:func:`prepare` builds the flat arrays the kernels need once per (trades, market) pair; every
candidate playbook replayed over them reuses them. :func:`replay_candidates` replays K playbooks at
once and returns one row of metrics per candidate, with per-trade outcomes and daily equity only when
asked for.

Metrics (per candidate), on a calendar grid of UTC day ends with every day included (zero-trade days
too), the equity marked to the last close at each day end:

- ``total_return``, ``log_growth`` (ln of final / initial equity), ``max_drawdown`` (negative fraction,
  the initial equity counts as the first peak);
- ``sharpe`` = mean / standard deviation (ddof 1) of daily returns x sqrt(365); ``sortino`` = mean /
  sqrt(mean(min(r, 0)^2)) x sqrt(365); ``calmar`` = annualised return / |max_drawdown|, with a 365-day year
  as vectorbt uses;
- ``win_rate`` (share of taken trades with a positive return), ``profit_factor`` (gross profit / gross
  loss in quote currency), ``expectancy`` (mean return on margin per taken trade, fraction),
  ``trades_taken``, ``liquidations``, ``exposure`` (share of the grid's time with a trade open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from framework.config import ReplaySettings
from framework.errors import InputError, Problem
from framework.market import Market, price_ticks, timeframe_to_timedelta
from framework.playbook import (
    DEFAULT_REGIME,
    KERNEL_DTYPE,
    SPECS,
    STRATEGY_WEIGHTS,
    ParameterChange,
    Playbook,
    RegimeParameters,
    kernel_record,
)
from framework.regimes import REGIMES
from framework.replay import kernels

# Logged exits caused by the parameters being tuned do not bind a replay: it looks for the exit anew.
NON_BINDING_EXIT_REASONS = ("stop_loss", "take_profit", "liquidation", "roi")
# Parameter groups of a playbook: one per regime, then the default block (trades with no regime).
PARAMETER_GROUPS: tuple[str | None, ...] = (*REGIMES, None)
_NANOS_PER_DAY = kernels.NANOS_PER_DAY


@dataclass(frozen=True)
class ReplayInputs:
    """Flat arrays of N trades (sorted by entry) and the bars of their symbols, as the kernels' records;
    times in int64 ns, UTC.

    ``order[i]`` is the row of the caller's trade frame that became trade ``i`` here. ``symbols`` are the
    trades' symbols in the order their bars are concatenated; ``segments[s]`` is symbol ``s``'s
    ``(start, stop, timeframe_ns)`` in the bars and ``symbol_index[i]`` trade ``i``'s symbol.
    """

    order: np.ndarray
    trade_id: np.ndarray
    strategies: tuple[str, ...]
    bars: kernels.Bars
    paths: kernels.TradePaths
    book: kernels.TradeBook
    calendar: kernels.Calendar
    symbols: tuple[str, ...]
    """The symbols of the bars, in the order of ``segments``."""
    segments: np.ndarray
    """Per symbol of the bars: (first bar, stop, timeframe in ns)."""
    symbol_index: np.ndarray
    """Per trade: its symbol's row of ``segments``."""

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the records by field name (for fingerprints and inspection)."""
        return {**self.bars._asdict(), **self.paths._asdict(), **self.book._asdict(), **self.calendar._asdict()}


@dataclass(frozen=True)
class SweepResult:
    """What :func:`replay_candidates` found. ``metrics``: one row per candidate (``METRIC_NAMES``);
    ``tables`` and ``costs``: the candidates and costs replayed (what :meth:`to_vbt` and the vectorbt
    check read besides the outcomes)."""

    metrics: pd.DataFrame
    per_trade: dict[str, np.ndarray] | None
    equity: pd.DataFrame | None
    inputs: ReplayInputs
    tables: CandidateTables | None = None
    costs: kernels.Costs | None = None

    def trades(self, candidate: int) -> pd.DataFrame:
        """Per-trade outcomes of one candidate, in the caller's trade order.

        Columns ``trade_id, taken, exit_time, exit_price, exit_reason, return`` (return on margin,
        fraction; -1 = margin lost), ``margin`` and ``pnl`` (quote currency, from the compounding
        portfolio). A trade below the confidence threshold is not taken and its exit columns are empty.
        """
        if self.per_trade is None:
            raise ValueError("replay_candidates(..., per_trade=True) keeps per-trade outcomes")
        taken = self.per_trade["taken"][candidate]
        reasons = np.array(kernels.EXIT_REASON_NAMES, dtype=object)[self.per_trade["reason"][candidate]]
        frame = pd.DataFrame(
            {
                "trade_id": self.inputs.trade_id,
                "taken": taken,
                "exit_time": pd.to_datetime(
                    np.where(taken, self.per_trade["exit_ns"][candidate], np.iinfo(np.int64).min),
                    unit="ns",
                    utc=True,
                ),
                "exit_price": np.where(taken, self.per_trade["exit_price"][candidate], np.nan),
                "exit_reason": np.where(taken, reasons, None),
                "return": np.where(taken, self.per_trade["return"][candidate], np.nan),
                "margin": np.where(taken, self.per_trade["margin"][candidate], np.nan),
                "pnl": np.where(
                    taken, self.per_trade["margin"][candidate] * self.per_trade["return"][candidate], np.nan
                ),
            }
        )
        restore = np.empty_like(self.inputs.order)
        restore[self.inputs.order] = np.arange(len(self.inputs.order))
        return frame.iloc[restore].reset_index(drop=True)

    def to_vbt(self, candidate: int = 0) -> Any:
        """Candidate ``candidate``'s taken trades as a ``vectorbt.Portfolio`` (vectorbt 1.2), for its
        ``.stats()``, ``.plot()``, ``.trades.records_readable`` and returns accessor.

        One account: every trade is an order at our entry time and price and one at our exit bar and
        price, sized to its notional (margin x leverage) from the compounding portfolio, with our fee
        per side, cash shared from ``initial_equity``. Its total return and trade count are ours when
        nothing below applies. Limits (vectorbt 1.2 has no leverage, margin or funding): positions are
        paid for in cash, so a candidate whose open long notionals exceed its cash cannot be shown
        (ValueError names the trade); a trade's pnl is its notional's move and fees, so a liquidation
        (ours: the margin lost, -1), a loss floored at the margin and funding are not in vectorbt's
        figures; vectorbt values at every bar close, ours at UTC day ends, so drawdown and Sharpe
        differ. Needs ``per_trade=True``; imports vectorbt (seconds). See
        :func:`framework.replay.vectorbt_portfolio.portfolio`.
        """
        from framework.replay import vectorbt_portfolio

        return vectorbt_portfolio.portfolio(self, candidate)


def prepare(trades: pd.DataFrame, market: Market, settings: ReplaySettings | None = None) -> ReplayInputs:
    """Gather the arrays for replaying ``trades`` (a canonical trade log) over ``market``.

    Funding (``market.funding``) is charged when ``settings.funding`` is on; stops and fills are
    rounded to each symbol's price tick at the entry when ``settings.price_ticks`` is ``candles``.
    Raises InputError naming the trade when its symbol has no candles or its entry lies after the symbol's last bar.
    """
    settings = settings or ReplaySettings()
    order = np.argsort(_ns(trades["entry_time"]), kind="stable")

    def column(name: str, dtype: Any = None) -> np.ndarray:
        """A column of ``trades`` in entry order."""
        return _frozen(trades[name].to_numpy(dtype)[order])

    symbol_index, symbols = _codes(trades["symbol"], order)
    times, opens, highs, lows, closes, segments = _concatenate_bars(market, symbols)
    seg_start, seg_stop, step = (segments[symbol_index, c] for c in range(3))

    trade_id = column("trade_id", object)
    entry_ns = _frozen(_ns(trades["entry_time"])[order])
    last_close = times[np.maximum(seg_stop - 1, 0)] + step
    late = np.flatnonzero(entry_ns >= last_close)
    if late.size:
        raise InputError(
            Problem(
                file="trade log",
                field="entry_time",
                message=f"trade {trade_id[i]!r} enters after the last candle of "
                f"{symbols[symbol_index[i]]} ({pd.Timestamp(last_close[i], tz='UTC')})",
            )
            for i in late
        )
    logged_exit_ns = _frozen(_ns(trades["exit_time"])[order])
    binds = _frozen(~trades["exit_reason"].isin(NON_BINDING_EXIT_REASONS).to_numpy()[order])
    first_bar, bar_bound = kernels.trade_windows(times, seg_start, seg_stop, step, entry_ns, logged_exit_ns, binds)

    day_ends = _day_grid(entry_ns, np.maximum(logged_exit_ns.max(initial=0), last_close.max(initial=0)))
    day_close, day_close_ns = _day_closes(times, closes, segments, day_ends)
    funding_times, funding_cumulative, funding_start, funding_stop = _funding(
        market, symbols, symbol_index, settings.funding
    )
    low_tree, high_tree, tree_size = kernels.build_trees(lows, highs)
    strategy, strategies = _codes(trades["strategy"], order)
    return ReplayInputs(
        order=order,
        trade_id=trade_id,
        strategies=strategies,
        bars=_frozen_record(kernels.Bars(times, opens, closes, low_tree, high_tree, np.int64(tree_size))),
        paths=_frozen_record(
            kernels.TradePaths(
                first_bar=first_bar,
                bar_bound=bar_bound,
                last_bar=seg_stop - 1,
                timeframe_ns=step,
                entry_ns=entry_ns,
                entry_price=column("entry_price", np.float64),
                direction=np.where(column("side", object) == "short", -1.0, 1.0),
                logged_exit_ns=logged_exit_ns,
                logged_exit_price=column("exit_price", np.float64),
                logged_exit_binds=binds,
            )
        ),
        book=_frozen_record(
            kernels.TradeBook(
                confidence=column("confidence", np.float64),
                group=_parameter_groups(column("regime", object)),
                strategy=strategy,
                funding_start=funding_start,
                funding_stop=funding_stop,
                day_close_start=symbol_index * len(day_ends),
                fee_open=_fees(trades, "fee_open")[order],
                fee_close=_fees(trades, "fee_close")[order],
                price_tick=_price_ticks(symbols, symbol_index, entry_ns, market, settings.price_ticks == "candles"),
            )
        ),
        calendar=_frozen_record(kernels.Calendar(funding_times, funding_cumulative, day_ends, day_close, day_close_ns)),
        symbols=symbols,
        segments=segments,
        symbol_index=symbol_index,
    )


def _codes(values: pd.Series, order: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Per value of ``values`` taken in ``order``, its position among the distinct values in the order
    they first appear there, and those values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    codes = codes[order]
    appearing = pd.unique(codes)
    renumbered = np.empty(len(uniques), dtype=np.int64)
    renumbered[appearing] = np.arange(len(appearing))
    return renumbered[codes], tuple(uniques.take(appearing))


def _parameter_groups(regimes: np.ndarray) -> np.ndarray:
    """Per trade its row of ``PARAMETER_GROUPS``: its regime's, the default block's for none."""
    codes, uniques = pd.factorize(regimes)
    groups = np.array([PARAMETER_GROUPS.index(regime) for regime in uniques] + [len(REGIMES)], dtype=np.int64)
    return groups[codes]  # code -1 (no regime) picks the last entry, the default block


def _frozen(values: np.ndarray) -> np.ndarray:
    """A read-only view of ``values``: every array of the inputs is one, so the kernels compile once for
    prepared and selected inputs alike (numba types read-only arrays apart)."""
    view = values.view()
    view.flags.writeable = False
    return view


def _frozen_record(record: Any) -> Any:
    return type(record)(*(_frozen(v) if isinstance(v, np.ndarray) else v for v in record))


def select(inputs: ReplayInputs, trades: pd.DataFrame) -> ReplayInputs:
    """The inputs of ``trades``, some of the trades ``inputs`` was prepared from (matched by
    ``trade_id``), without gathering the bars, trees and funding again.

    Replayed, they give what ``prepare(trades, ...)`` gives, trade for trade and day for day: the same
    trades in the same order, the same day grid and the same marks. They keep every symbol's bars
    (positions into them stay valid), so the bar arrays may hold symbols ``trades`` does not trade.
    ``ValueError`` when a trade is not among the prepared ones or ``inputs``' trade ids repeat.
    """
    known = pd.Index(inputs.trade_id)
    if not known.is_unique:
        raise ValueError("the prepared trades repeat a trade_id, so a selection from them is ambiguous")
    order = np.argsort(_ns(trades["entry_time"]), kind="stable")
    trade_id = trades["trade_id"].to_numpy(dtype=object)[order]
    rows = known.get_indexer(trade_id)
    if (rows < 0).any():
        absent = ", ".join(repr(t) for t in trade_id[rows < 0][:5])
        raise ValueError(f"trades not among the prepared ones: {absent}")
    paths = _frozen_record(kernels.TradePaths(*(values[rows] for values in inputs.paths)))
    named = [inputs.strategies[code] for code in inputs.book.strategy[rows]]
    strategies = tuple(dict.fromkeys(named))
    symbol_index = inputs.symbol_index[rows]
    times = inputs.bars.times
    last_close = times[np.maximum(paths.last_bar, 0)] + paths.timeframe_ns
    day_ends = _day_grid(paths.entry_ns, np.maximum(paths.logged_exit_ns.max(initial=0), last_close.max(initial=0)))
    day_close, day_close_ns = _day_closes(times, inputs.bars.closes, inputs.segments, day_ends)
    book = kernels.TradeBook(
        confidence=inputs.book.confidence[rows],
        group=inputs.book.group[rows],
        strategy=np.array([strategies.index(s) for s in named], dtype=np.int64),
        funding_start=inputs.book.funding_start[rows],
        funding_stop=inputs.book.funding_stop[rows],
        day_close_start=symbol_index * len(day_ends),
        fee_open=inputs.book.fee_open[rows],
        fee_close=inputs.book.fee_close[rows],
        price_tick=inputs.book.price_tick[rows],
    )
    calendar = inputs.calendar._replace(day_ends=day_ends, day_close=day_close, day_close_ns=day_close_ns)
    return ReplayInputs(
        order,
        trade_id,
        strategies,
        inputs.bars,
        paths,
        _frozen_record(book),
        _frozen_record(calendar),
        inputs.symbols,
        inputs.segments,
        symbol_index,
    )


@dataclass(frozen=True)
class CandidateTables:
    """The kernel's view of K candidate playbooks.

    ``parameters`` (K, groups): one record of the playbook schema's ``KERNEL_DTYPE`` per parameter
    group (``PARAMETER_GROUPS``); ``weights`` (K, strategies of the prepared trades).
    """

    parameters: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return int(self.parameters.shape[0])


def candidate_tables(inputs: ReplayInputs, playbooks: Sequence[Playbook]) -> CandidateTables:
    """Tables of K whole playbooks."""
    parameters = np.empty((len(playbooks), len(PARAMETER_GROUPS)), dtype=KERNEL_DTYPE)
    weights = np.empty((len(playbooks), max(len(inputs.strategies), 1)))
    records: dict[RegimeParameters, np.void] = {}  # most groups of a playbook share the default block
    for k, playbook in enumerate(playbooks):
        for g, regime in enumerate(PARAMETER_GROUPS):
            block = playbook.parameters_for(regime)
            if block not in records:
                records[block] = kernel_record(block)
            parameters[k, g] = records[block]
        weights[k, : len(inputs.strategies)] = [playbook.strategy_weight(s) for s in inputs.strategies]
    return CandidateTables(parameters, weights)


def tables_for_changes(
    inputs: ReplayInputs, base: Playbook, change_sets: Sequence[Sequence[ParameterChange]]
) -> CandidateTables:
    """Tables of K candidates, each ``base`` with one set of changes, without rewriting any YAML.

    A change to the ``default`` block reaches every regime that does not set the parameter itself, as
    :meth:`Playbook.with_changes` would; regime changes in the same set win over default ones. The
    changes are not checked against bounds: that is the caller's job (the safety rules).
    """
    base_tables = candidate_tables(inputs, [base])
    k = len(change_sets)
    parameters = np.repeat(base_tables.parameters, k, axis=0)
    weights = np.repeat(base_tables.weights, k, axis=0)
    for row, changes in enumerate(change_sets):
        ordered = sorted(changes, key=lambda c: c.regime != DEFAULT_REGIME)
        for change in ordered:
            if change.regime == STRATEGY_WEIGHTS:
                if change.parameter in inputs.strategies:
                    weights[row, inputs.strategies.index(change.parameter)] = float(change.value)  # type: ignore[arg-type]
                continue
            reached = _groups_reached(base, change)
            for field, value in SPECS[change.parameter].kernel_fields(change.value).items():
                parameters[field][row, reached] = value
    return CandidateTables(parameters, weights)


def _groups_reached(base: Playbook, change: ParameterChange) -> list[int]:
    if change.regime != DEFAULT_REGIME:
        return [PARAMETER_GROUPS.index(change.regime)]
    return [
        g
        for g, regime in enumerate(PARAMETER_GROUPS)
        if regime is None or change.parameter not in base.overrides.get(regime, {})
    ]


def replay_candidates(
    inputs: ReplayInputs,
    playbooks: Sequence[Playbook],
    settings: ReplaySettings,
    *,
    initial_equity: float | None = None,
    per_trade: bool = False,
    equity: bool = False,
) -> SweepResult:
    """Replay the prepared trades under every playbook in ``playbooks`` at once, from
    ``initial_equity`` (quote currency; None: ``settings.initial_equity``).

    Memory stays O(K + N + days) unless ``per_trade`` (K x N outcomes) or ``equity`` (K x days daily
    equity, quote currency) is asked for.
    """
    tables = candidate_tables(inputs, playbooks)
    return replay_tables(inputs, tables, settings, initial_equity=initial_equity, per_trade=per_trade, equity=equity)


def replay_tables(
    inputs: ReplayInputs,
    tables: CandidateTables,
    settings: ReplaySettings,
    *,
    initial_equity: float | None = None,
    per_trade: bool = False,
    equity: bool = False,
) -> SweepResult:
    """:func:`replay_candidates` for candidates given as tables (see :func:`tables_for_changes`)."""
    k, n = len(tables), len(inputs.trade_id)
    rows = k if per_trade else 0
    out = kernels.Outcomes(
        taken=np.zeros((rows, n), dtype=np.bool_),
        exit_ns=np.zeros((rows, n), dtype=np.int64),
        exit_price=np.zeros((rows, n)),
        reason=np.zeros((rows, n), dtype=np.int8),
        returns=np.zeros((rows, n)),
        margin=np.zeros((rows, n)),
        equity=np.zeros((k if equity else 0, len(inputs.calendar.day_ends))),
    )
    start = settings.initial_equity if initial_equity is None else initial_equity
    costs = kernels.Costs(settings.maintenance_margin_rate, settings.fee, start)
    metrics = kernels.sweep(
        inputs.bars, inputs.paths, inputs.book, inputs.calendar, tables.parameters, tables.weights, costs, out
    )
    metrics_frame = pd.DataFrame(metrics, columns=list(kernels.METRIC_NAMES))
    day_ends = pd.to_datetime(inputs.calendar.day_ends, unit="ns", utc=True).rename("day_end")
    equity_frame = pd.DataFrame(out.equity.T, index=day_ends) if equity else None
    per_trade_outcomes = (
        {
            "taken": out.taken,
            "exit_ns": out.exit_ns,
            "exit_price": out.exit_price,
            "reason": out.reason,
            "return": out.returns,
            "margin": out.margin,
        }
        if per_trade
        else None
    )
    return SweepResult(
        metrics=metrics_frame,
        per_trade=per_trade_outcomes,
        equity=equity_frame,
        inputs=inputs,
        tables=tables,
        costs=costs,
    )


def replay(trades: pd.DataFrame, market: Market, playbook: Playbook, settings: ReplaySettings) -> pd.DataFrame:
    """Replay ``trades`` under one ``playbook``: per-trade outcomes in the trade frame's order.

    See :meth:`SweepResult.trades` for the columns.
    """
    inputs = prepare(trades, market, settings)
    return replay_candidates(inputs, [playbook], settings, per_trade=True).trades(0)


def _concatenate_bars(
    market: Market, symbols: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All symbols' bars end to end: open times (ns), opens, highs, lows, closes, and per symbol
    (start, stop, timeframe in ns). One symbol's arrays are its candles' own (read-only views)."""
    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    segments = np.zeros((len(symbols), 3), dtype=np.int64)
    position = 0
    for s, symbol in enumerate(symbols):
        candles = market.for_symbol(symbol)
        frame = candles.frame
        segments[s] = (position, position + len(frame), timeframe_to_timedelta(candles.timeframe).value)
        columns[0].append(_bar_times(frame.index))
        for values, name in zip(columns[1:], ("open", "high", "low", "close"), strict=True):
            values.append(frame[name].to_numpy(np.float64))
        position += len(frame)
    times, opens, highs, lows, closes = (
        _frozen(parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, dtype))
        for parts, dtype in zip(columns, (np.int64, *[np.float64] * 4), strict=True)
    )
    return times, opens, highs, lows, closes, segments


def _day_grid(entry_ns: np.ndarray, last_ns: int) -> np.ndarray:
    """UTC midnights from the first one after the first entry to the first one at or after ``last_ns``."""
    if entry_ns.size == 0:
        return np.empty(0, dtype=np.int64)
    first = (int(entry_ns.min()) // _NANOS_PER_DAY + 1) * _NANOS_PER_DAY
    last = max(-(-int(last_ns) // _NANOS_PER_DAY) * _NANOS_PER_DAY, first)
    # integer day counts: np.arange over int64 nanoseconds computes its length in float64 and can drop a day
    return first + _NANOS_PER_DAY * np.arange((last - first) // _NANOS_PER_DAY + 1, dtype=np.int64)


def _day_closes(
    times: np.ndarray, closes: np.ndarray, segments: np.ndarray, day_ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per symbol and day end: the close of the last bar that closed by then, and that bar's close time."""
    price = np.full(len(segments) * len(day_ends), np.nan)
    when = np.full(len(segments) * len(day_ends), np.iinfo(np.int64).min, dtype=np.int64)
    for s, (start, stop, step) in enumerate(segments):
        # a bar closed by a day end when it opened a timeframe or more before it
        last = start + np.searchsorted(times[start:stop], day_ends - step, side="right") - 1
        known = last >= start
        block = slice(s * len(day_ends), (s + 1) * len(day_ends))
        price[block] = np.where(known, closes[np.maximum(last, start)], np.nan)
        when[block] = np.where(known, times[np.maximum(last, start)] + step, np.iinfo(np.int64).min)
    return price, when


def _funding(
    market: Market, symbols: Sequence[str], symbol_index: np.ndarray, enabled: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Funding times and running sums of rates for the symbols that have a funding series."""
    times: list[np.ndarray] = []
    cumulative: list[np.ndarray] = []
    bounds = np.zeros((len(symbols), 2), dtype=np.int64)
    position = 0
    for s, symbol in enumerate(symbols):
        series = market.funding.get(symbol) if enabled else None
        if series is None:
            bounds[s] = (position, position)
            continue
        times.append(_ns(series.frame.index))
        cumulative.append(np.cumsum(series.frame["open"].to_numpy(np.float64)))
        bounds[s] = (position, position + len(series.frame))
        position += len(series.frame)
    flat_times = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
    flat_cumulative = np.concatenate(cumulative) if cumulative else np.empty(0)
    return flat_times, flat_cumulative, bounds[symbol_index, 0], bounds[symbol_index, 1]


def _fees(trades: pd.DataFrame, column: str) -> np.ndarray:
    """A per-trade fee column (fraction of notional); NaN where the log has none (the configured fee)."""
    if column not in trades:
        return np.full(len(trades), np.nan)
    return pd.to_numeric(trades[column], errors="coerce").to_numpy(np.float64)


def _price_ticks(
    symbols: Sequence[str], symbol_index: np.ndarray, entry_ns: np.ndarray, market: Market, enabled: bool
) -> np.ndarray:
    """Per trade, the tick of its symbol in the month of its entry (:func:`framework.market.price_ticks`);
    0 (exact prices) when not ``enabled``."""
    ticks = np.zeros(len(entry_ns))
    if not enabled:
        return ticks
    for s, symbol in enumerate(symbols):
        rows = np.flatnonzero(symbol_index == s)
        found = price_ticks(market.for_symbol(symbol).frame, pd.to_datetime(entry_ns[rows], unit="ns", utc=True))
        ticks[rows] = np.nan_to_num(found, nan=0.0)
    return ticks


def _ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("ns").asi8.copy()


def _bar_times(index: pd.DatetimeIndex) -> np.ndarray:
    """A candle index's open times as int64 ns (a view when the index is in ns already)."""
    return (index if index.unit == "ns" else index.as_unit("ns")).asi8
