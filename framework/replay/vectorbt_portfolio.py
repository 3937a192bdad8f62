"""Replay results as vectorbt 1.2 portfolios (:func:`portfolio`, behind :meth:`SweepResult.to_vbt`), and
what the vectorbt check (:mod:`framework.replay.vectorbt_check`) shares with it: importing vectorbt with
its simulators cached (:func:`load_vectorbt`) and packing trades into columns (:func:`pack_columns`).
"""

from __future__ import annotations

import heapq
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from framework.collector import collection_paused
from framework.jit import kernel_caching
from framework.replay import kernels

if TYPE_CHECKING:
    from framework.replay.engine import SweepResult

LEVEL_EXITS = (kernels.STOP_LOSS, kernels.TAKE_PROFIT, kernels.LIQUIDATION, kernels.ROI)
"""Exits stamped with the bar's open time (the others with a bar's close time, or the logged time)."""


def pack_columns(entry: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A column per trade such that a column's trades never share a bar: [entry, end] intervals."""
    lanes = np.empty(entry.size, dtype=np.int64)
    free: list[tuple[int, int]] = []  # (last bar used, column), smallest first
    count = 0
    for j in np.lexsort((end, entry)):
        if free and free[0][0] < entry[j]:
            _, lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes[j] = lane
        heapq.heappush(free, (int(end[j]), lane))
    return lanes


def load_vectorbt() -> Any:
    """vectorbt, imported (seconds) with its two simulators cached like our kernels.

    vectorbt 1.2's ``simulate_from_signals_nb`` and ``simulate_from_orders_nb`` are ``@njit`` without
    ``cache=True``: compiling the first takes ~8 s in every process. numba's ``enable_caching`` keeps
    them in our kernel cache (:func:`framework.jit.kernel_cache_directory`), keyed as numba keys any
    cached function (its source file's timestamp and the argument types), so the check costs ~0.6 s
    after the first run instead. The import runs with the garbage collector paused
    (:mod:`framework.collector`).
    """
    global _CACHING
    with _LOADING:
        with collection_paused():
            import vectorbt as vbt
            from vectorbt.portfolio import nb

        if not _CACHING:
            _CACHING = True
            with kernel_caching() as directory:
                if directory is not None:
                    nb.simulate_from_signals_nb.enable_caching()
                    nb.simulate_from_orders_nb.enable_caching()
    return vbt


_CACHING = False
_LOADING = threading.Lock()


def portfolio(result: SweepResult, candidate: int = 0) -> Any:
    """:meth:`SweepResult.to_vbt`: candidate ``candidate``'s taken trades as one cash-sharing
    ``vectorbt.Portfolio`` (``from_orders``), a column per symbol and lane of trades that never overlap.

    Each trade is an order at its entry (on the bar before the first bar the replay scans, at our entry
    price) and one at its exit bar (at our exit price), sized to its notional (margin x leverage, the
    compounding portfolio's margin), with the trade's fee per side (the log's ``fee_open`` and
    ``fee_close``, else the configured fee) and ``init_cash`` our initial equity. A trade
    with no margin (equity gone) is left out. A trade that would exit on its entry bar is shown exiting
    on the next one. Raises ValueError when vectorbt could not fill a trade in full (its cash ran out:
    vectorbt 1.2 has no leverage) or the result has no per-trade outcomes.
    """
    vbt = load_vectorbt()
    if result.per_trade is None or result.tables is None or result.costs is None:
        raise ValueError("to_vbt needs a replay with per-trade outcomes: replay_candidates(..., per_trade=True)")
    inputs, out = result.inputs, result.per_trade
    idx = np.flatnonzero(out["taken"][candidate] & (out["margin"][candidate] > 0.0))
    if idx.size == 0:
        raise ValueError(f"candidate {candidate} took no trade with a margin: there is nothing to show")
    leverage = result.tables.parameters["leverage"][candidate, inputs.book.group[idx]]
    units = out["margin"][candidate, idx] * leverage / inputs.paths.entry_price[idx]
    entry_ns, exit_ns = np.empty(idx.size, dtype=np.int64), np.empty(idx.size, dtype=np.int64)
    closes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in np.unique(inputs.symbol_index[idx]):
        start, stop = (int(x) for x in inputs.segments[s, :2])
        times = inputs.bars.times[start:stop]
        closes[int(s)] = (times, inputs.bars.closes[start:stop])
        mine = inputs.symbol_index[idx] == s
        trades = idx[mine]
        entry_bar = np.maximum(inputs.paths.first_bar[trades] - start - 1, 0)
        stamps = out["exit_ns"][candidate, trades]
        level = np.isin(out["reason"][candidate, trades], LEVEL_EXITS)
        exit_bar = np.where(
            level, np.searchsorted(times, stamps, "right") - 1, np.searchsorted(times, stamps, "left") - 1
        )
        exit_bar = np.minimum(np.maximum(exit_bar, entry_bar + 1), len(times) - 1)
        entry_bar = np.minimum(entry_bar, exit_bar - 1)
        entry_ns[mine], exit_ns[mine] = times[entry_bar], times[exit_bar]
    union = np.unique(np.concatenate([t[(t >= entry_ns.min()) & (t <= exit_ns.max())] for t, _ in closes.values()]))
    entry_row, exit_row = np.searchsorted(union, entry_ns), np.searchsorted(union, exit_ns)
    symbol = inputs.symbol_index[idx]
    columns: list[tuple[str, int]] = []
    column = np.empty(idx.size, dtype=np.int64)
    for s in np.unique(symbol):
        mine = np.flatnonzero(symbol == s)
        lanes = pack_columns(entry_row[mine], exit_row[mine])
        for lane in range(int(lanes.max()) + 1):
            column[mine[lanes == lane]] = len(columns)
            columns.append((inputs.symbols[s], lane))
    shape = (len(union), len(columns))
    size = np.full(shape, np.nan)
    price = np.full(shape, np.inf)
    close = np.empty(shape)
    for c, (name, _) in enumerate(columns):
        times, values = closes[inputs.symbols.index(name)]
        close[:, c] = values[np.maximum(np.searchsorted(times, union, "right") - 1, 0)]
    direction = inputs.paths.direction[idx]
    size[entry_row, column] = direction * units
    size[exit_row, column] = -direction * units
    price[entry_row, column] = inputs.paths.entry_price[idx]
    price[exit_row, column] = out["exit_price"][candidate, idx]
    fees = np.zeros(shape)
    fees[entry_row, column] = trade_fees(inputs.book.fee_open[idx], result.costs.fee)
    fees[exit_row, column] = trade_fees(inputs.book.fee_close[idx], result.costs.fee)
    index = pd.DatetimeIndex(pd.to_datetime(union, unit="ns", utc=True))
    labels = pd.MultiIndex.from_tuples(columns, names=["symbol", "lane"])
    pf = vbt.Portfolio.from_orders(
        pd.DataFrame(close, index=index, columns=labels),
        size=pd.DataFrame(size, index=index, columns=labels),
        price=pd.DataFrame(price, index=index, columns=labels),
        size_type="amount",
        direction="both",
        fees=pd.DataFrame(fees, index=index, columns=labels),
        init_cash=result.costs.initial_equity,
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        freq=pd.Timedelta(int(inputs.segments[:, 2].min()), unit="ns"),
    )
    filled = np.zeros(shape)
    orders = pf.orders.values
    filled[orders["idx"], orders["col"]] = orders["size"]
    short = ~np.isclose(filled[entry_row, column], units, rtol=1e-9, atol=0.0)
    short |= ~np.isclose(filled[exit_row, column], units, rtol=1e-9, atol=0.0)
    if short.any():
        first = int(np.flatnonzero(short)[0])
        raise ValueError(
            f"vectorbt could not buy or sell trade {inputs.trade_id[idx[first]]!r} in full (notional "
            f"{units[first] * inputs.paths.entry_price[idx[first]]:.2f}): its cash ran out. vectorbt 1.2 has "
            "no leverage or margin and pays for every position in full; this candidate's open notionals "
            "exceed its equity"
        )
    return pf


def trade_fees(per_trade: np.ndarray, configured: float) -> np.ndarray:
    """A per-trade fee column of the prepared inputs with its gaps (NaN) filled by the configured fee."""
    return np.where(np.isnan(per_trade), configured, per_trade)
