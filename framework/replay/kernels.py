"""Numba kernels of the replay: plain numpy arrays in and out, nothing of pandas, files or configs.

Bars of every symbol are concatenated into flat arrays; a trade only ever looks at bars of its own
symbol, between indices prepared for it. Times are int64 nanoseconds since the epoch (UTC); bar times
are bar open times. The rules are written out in docs/REPLAY.md; each is pinned by a test.

Finding where a trade exits is a first-touch question (the first bar whose low reaches the stop, whose
high reaches the take-profit...). In the sweep, the running minima of a trade's lows and maxima of its
highs answer it for the trade's first bars by a binary search, shared by a block of candidates; segment
trees over blocks of bars answer it beyond, in O(log bars) instead of a bar-by-bar scan. An ROI table is
one such question per step, each step's profit ratio turned into a price level over the bars while the
step is in force.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from framework.jit import borrowed, njit, prange

STOP_LOSS = 0
TAKE_PROFIT = 1
LIQUIDATION = 2
SIGNAL = 3
TIME = 4
END_OF_DATA = 5
ROI = 6
EXIT_REASON_NAMES = ("stop_loss", "take_profit", "liquidation", "signal", "time", "end_of_data", "roi")

# Columns of the metrics table the sweep returns.
METRIC_NAMES = (
    "total_return",
    "log_growth",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "win_rate",
    "profit_factor",
    "expectancy",
    "trades_taken",
    "liquidations",
    "exposure",
)
DAYS_PER_YEAR = 365.0
NANOS_PER_DAY = 86_400 * 10**9
NANOS_PER_MINUTE = 60 * 10**9

_NO_BAR = -1
TREE_BLOCK = 16
"""Bars per leaf of the segment trees: a block's bars are scanned, which beats a deeper tree."""


# --- records the kernels take (numba reads named tuples of arrays as typed records) ------------------


class Bars(NamedTuple):
    """Every symbol's bars end to end (open times, ns) and the segment trees over their lows and highs."""

    times: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    low_tree: np.ndarray
    high_tree: np.ndarray
    size: np.int64


class TradePaths(NamedTuple):
    """Per trade, what its exit depends on: its bars ``[first_bar, bar_bound)`` (``last_bar``: its
    symbol's last), its entry, and the logged exit (binding or not)."""

    first_bar: np.ndarray
    bar_bound: np.ndarray
    last_bar: np.ndarray
    timeframe_ns: np.ndarray
    entry_ns: np.ndarray
    entry_price: np.ndarray
    direction: np.ndarray
    logged_exit_ns: np.ndarray
    logged_exit_price: np.ndarray
    logged_exit_binds: np.ndarray


class TradeBook(NamedTuple):
    """Per trade, what the portfolio needs: its confidence, parameter group (regime), strategy, its
    symbol's slice of the funding series and of the day-end closes, its fees per side (fractions
    of notional; NaN: the configured fee) and its price tick."""

    confidence: np.ndarray
    group: np.ndarray
    strategy: np.ndarray
    funding_start: np.ndarray
    funding_stop: np.ndarray
    day_close_start: np.ndarray
    fee_open: np.ndarray
    fee_close: np.ndarray
    price_tick: np.ndarray
    """Per trade, the price step its stop and fills are rounded to (0: exact prices)."""


class Calendar(NamedTuple):
    """Funding times and running sums of rates; the UTC day ends and each symbol's close at each."""

    funding_times: np.ndarray
    funding_cumulative: np.ndarray
    day_ends: np.ndarray
    day_close: np.ndarray
    day_close_ns: np.ndarray


class OneTrade(NamedTuple):
    """One trade of :class:`TradePaths` as plain values (see there), which the per-trade kernels take:
    a record of arrays passed on costs reference counts at every call."""

    first_bar: int
    bar_bound: int
    last_bar: int
    timeframe_ns: int
    entry_ns: int
    entry_price: float
    direction: float
    logged_exit_ns: int
    logged_exit_price: float
    logged_exit_binds: bool


class Costs(NamedTuple):
    maintenance_margin_rate: float
    fee: float
    initial_equity: float


class Outcomes(NamedTuple):
    """Filled per trade (K, N) and per day (K, days) when given with K rows; ignored with zero rows."""

    taken: np.ndarray
    exit_ns: np.ndarray
    exit_price: np.ndarray
    reason: np.ndarray
    returns: np.ndarray
    margin: np.ndarray
    equity: np.ndarray


# --- first-touch search -------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def build_trees(lows, highs):
    """Segment trees over the bars: minima of ``lows`` and maxima of ``highs``, per block of
    ``TREE_BLOCK`` bars, each followed by the bars' own values.

    Returns ``(low_tree, high_tree, size)``: bar ``j``'s low (high) sits at ``size + j``; block ``b``'s
    extreme is leaf ``b`` of a binary tree rooted at node 1, at ``size // 2 + b``. Padding blocks hold
    +inf (lows) and -inf (highs) so they are never touched.
    """
    n = lows.shape[0]
    blocks = (n + TREE_BLOCK - 1) // TREE_BLOCK
    leaves = 1
    while leaves < blocks:
        leaves *= 2
    size = 2 * leaves
    low_tree = np.empty(size + n)
    high_tree = np.empty(size + n)
    for b in range(blocks):
        lowest = np.inf
        highest = -np.inf
        for j in range(b * TREE_BLOCK, min((b + 1) * TREE_BLOCK, n)):
            low_tree[size + j] = lows[j]
            high_tree[size + j] = highs[j]
            lowest = min(lowest, lows[j])
            highest = max(highest, highs[j])
        low_tree[leaves + b] = lowest
        high_tree[leaves + b] = highest
    low_tree[leaves + blocks : size] = np.inf
    high_tree[leaves + blocks : size] = -np.inf
    for node in range(leaves - 1, 0, -1):
        low_tree[node] = min(low_tree[2 * node], low_tree[2 * node + 1])
        high_tree[node] = max(high_tree[2 * node], high_tree[2 * node + 1])
    low_tree[0] = np.inf
    high_tree[0] = -np.inf
    return low_tree, high_tree, size


@njit(cache=True, nogil=True)
def _reaches(value, level, below):
    return value <= level if below else value >= level


@njit(cache=True, nogil=True)
def first_touch(tree, size, start, stop, level, below):
    """First bar index in ``[start, stop)`` whose value reaches ``level`` (<= when ``below``, else >=).

    ``tree`` is a low tree when ``below`` and a high tree otherwise (:func:`build_trees`). Returns -1
    when no bar does. The bars before the first whole block and after the last are scanned; the whole
    blocks between are searched in the tree, and the block found is scanned.
    """
    j = start
    head_stop = min(stop, -(-start // TREE_BLOCK) * TREE_BLOCK)
    while j < head_stop:
        if _reaches(tree[size + j], level, below):
            return j
        j += 1
    blocks_stop = stop // TREE_BLOCK
    if j // TREE_BLOCK < blocks_stop:
        block = _first_block(tree, size // 2, j // TREE_BLOCK, blocks_stop, level, below)
        if block != _NO_BAR:
            j = block * TREE_BLOCK
            while not _reaches(tree[size + j], level, below):
                j += 1
            return j
        j = blocks_stop * TREE_BLOCK
    while j < stop:
        if _reaches(tree[size + j], level, below):
            return j
        j += 1
    return _NO_BAR


@njit(cache=True, nogil=True)
def _first_block(tree, leaves, start, stop, level, below):
    """First block in ``[start, stop)`` (``start < stop``) whose extreme reaches ``level``, or -1.

    From block ``start`` it moves right over ever larger subtrees (up while a right child, then to the
    next sibling), so nothing is allocated, and descends into the first subtree that reaches the level.
    """
    node = leaves + start
    width = 1  # blocks under ``node``
    while True:
        if _reaches(tree[node], level, below):
            while node < leaves:
                node = 2 * node if _reaches(tree[2 * node], level, below) else 2 * node + 1
            block = node - leaves
            return block if block < stop else _NO_BAR
        while node & 1:
            node >>= 1
            width *= 2
        if node == 0:
            return _NO_BAR
        node += 1
        if node * width - leaves >= stop:
            return _NO_BAR


# Inlined (as _exit is): called per trade and candidate, on arrays the caller borrowed (framework.jit.borrowed).
@njit(cache=True, inline="always")
def _touch(low_tree, high_tree, size, running, known, row, first_bar, stop, level):
    """:func:`first_touch` from the trade's first bar, ``[first_bar, stop)``, through what the trade's
    earlier candidates left in ``running`` and ``known`` (per ``row``: 0 the lows, reached at or below
    ``level``, 1 the highs, at or above; :func:`reset_touches` clears them for a new trade). Both trees
    come in and ``row`` picks one: an array chosen into a variable costs reference counts.

    ``running[row, :known[row, 0]]`` are the running extremes of the trade's bars (minima of the lows,
    maxima of the highs): monotone, so the first bar reaching a level is a binary search without
    branches to mispredict. They are extended (doubling) as candidates look further, up to
    ``running.shape[1] - 1`` bars; the trees take over beyond. The last search of the row (level in
    ``running[row, -1]``, stop and bar in ``known[row, 1:]``) is answered again without searching:
    candidates that differ in other parameters share their levels.
    """
    capacity = running.shape[1] - 1
    if known[row, 1] == stop and running[row, capacity] == level:
        return known[row, 2]
    limit = min(stop - first_bar, capacity)
    bar = _NO_BAR
    while True:
        count = min(known[row, 0], limit)
        reached = _first_reaching(running, row, count, level, row == 0)
        if reached < count:
            bar = first_bar + reached
            break
        if count >= limit:
            start = first_bar + max(limit, 0)
            if limit < stop - first_bar:
                if row == 0:
                    bar = first_touch(low_tree, size, start, stop, level, True)
                else:
                    bar = first_touch(high_tree, size, start, stop, level, False)
            break
        _extend(low_tree, high_tree, size, running, known, row, first_bar, limit)
    known[row, 1] = stop
    known[row, 2] = bar
    running[row, capacity] = level
    return bar


@njit(cache=True)
def reset_touches(known):
    """Forget the running extremes and the last searches of :func:`_touch`: a new trade."""
    known[:, 0] = 0
    known[:, 1] = -1


@njit(cache=True)
def _first_reaching(running, row, count, level, below):
    """First ``t < count`` whose ``running[row, t]`` reaches ``level`` (a monotone row), else ``count``.

    Rows are indexed, never sliced: a view costs reference counts on every call."""
    if count <= 0:
        return 0
    base = 0
    length = count
    while length > 1:
        half = length >> 1
        if not _reaches(running[row, base + half], level, below):
            base += half
        length -= half
    return base if _reaches(running[row, base], level, below) else base + 1


@njit(cache=True)
def _extend(low_tree, high_tree, size, running, known, row, first_bar, limit):
    """Row ``row`` of the running extremes of the trade's bars (minima of the lows, maxima of the highs),
    doubled (from 32) up to ``limit`` bars."""
    start = known[row, 0]
    stop = min(max(2 * start, 32), limit)
    leaf = size + first_bar
    if row == 0:
        previous = low_tree[leaf] if start == 0 else running[0, start - 1]
        for t in range(start, stop):
            previous = min(previous, low_tree[leaf + t])
            running[0, t] = previous
    else:
        previous = high_tree[leaf] if start == 0 else running[1, start - 1]
        for t in range(start, stop):
            previous = max(previous, high_tree[leaf + t])
            running[1, t] = previous
    known[row, 0] = stop


# --- one trade ----------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def trade_windows(times, seg_start, seg_stop, timeframe_ns, entry_ns, logged_exit_ns, logged_exit_binds):
    """Per trade, the bars that may end it: ``[first_bar, bar_bound)``.

    The first bar opens at or after the entry (a bar that opened before it may have made its high or
    low earlier). With a binding logged exit the bound stops before the first bar closing after it.
    """
    n = entry_ns.shape[0]
    first_bar = np.empty(n, dtype=np.int64)
    bar_bound = np.empty(n, dtype=np.int64)
    for i in range(n):
        start, stop, step = seg_start[i], seg_stop[i], timeframe_ns[i]
        first_bar[i] = _grid_search(times, start, stop, step, entry_ns[i], False)
        if logged_exit_binds[i]:
            closed_by_exit = _grid_search(times, start, stop, step, logged_exit_ns[i] - step, True)
            bar_bound[i] = max(first_bar[i], closed_by_exit)
        else:
            bar_bound[i] = stop
    return first_bar, bar_bound


@njit(cache=True)
def _grid_search(times, start, stop, step, value, right):
    """``start + np.searchsorted(times[start:stop], value, "right" if right else "left")``, found from
    where ``value`` sits on a grid of ``step`` from ``times[start]`` (bar times are one, but for missing
    bars) with a galloping search: a few probes near the answer instead of a binary search whose probes
    all miss the cache over a long symbol."""
    if start >= stop:
        return start
    guess = min(max(start + (value - times[start]) // step, start), stop)
    if guess < stop and (times[guess] <= value if right else times[guess] < value):
        lo = guess + 1  # the answer is in [lo, hi]
        hi = lo
        width = 1
        while hi < stop and (times[hi] <= value if right else times[hi] < value):
            lo = hi + 1
            hi += width
            width *= 2
        hi = min(hi, stop)
    else:
        hi = guess
        lo = hi
        width = 1
        while lo > start and not (times[lo - 1] <= value if right else times[lo - 1] < value):
            hi = lo - 1
            lo -= width
            width *= 2
        lo = max(lo, start)
    if right:
        return lo + np.searchsorted(times[lo:hi], value, "right")
    return lo + np.searchsorted(times[lo:hi], value)


@njit(cache=True)
def margin_return(direction, leverage, entry_price, exit_price, fee_open, fee_close=None):
    """Return on margin of one trade after its fees (fractions of the entry's and the exit's notional;
    ``fee_close`` omitted: ``fee_open``); an isolated margin loses at most itself."""
    ratio = exit_price / entry_price
    if fee_close is None or fee_close == fee_open:
        r = leverage * direction * (ratio - 1.0) - fee_open * leverage * (1.0 + ratio)
    else:
        r = leverage * direction * (ratio - 1.0) - leverage * (fee_open + fee_close * ratio)
    return max(r, -1.0)


@njit(cache=True)
def fee_factor(direction, fee_open, fee_close):
    """Exit price / entry price at which freqtrade's fee-inclusive profit ratio is zero:
    ``(1 + d fee_open) / (1 - d fee_close)`` (``calc_profit_ratio``: the close value net of the exit
    fee over the open value with the entry fee)."""
    return (1.0 + direction * fee_open) / (1.0 - direction * fee_close)


@njit(cache=True)
def to_tick(price, tick, rounding):
    """``price`` on the grid of ``tick`` (0: unchanged): up when ``rounding`` > 0, down when < 0, else
    to the nearest step (halves up), as freqtrade's ``price_to_precision`` does with a tick size. Only
    the float nearest a step's decimal is on the grid (freqtrade rounds the decimal text of the float,
    so a last digit off the step rounds up); the result is ``steps / (1 / tick)``, that nearest float."""
    if tick <= 0.0 or np.isnan(price):
        return price
    per_unit = np.round(1.0 / tick)
    steps = price * per_unit
    nearest = np.round(steps)
    on_grid = nearest / per_unit
    if on_grid == price:
        return on_grid
    if rounding > 0:
        return on_grid if on_grid > price else (nearest + 1.0) / per_unit
    if rounding < 0:
        return on_grid if on_grid < price else (nearest - 1.0) / per_unit
    return np.floor(steps + 0.5) / per_unit


@njit(cache=True, nogil=True)
def trade_exit(bars, paths, i, p, maintenance_margin_rate, fee_open=0.0, fee_close=0.0, price_tick=0.0):
    """Where trade ``i`` of ``paths`` exits under parameters ``p`` (a record of the playbook schema's
    ``KERNEL_DTYPE``): ``(exit_ns, exit_price, reason)``.

    Bars ``first_bar .. bar_bound - 1`` may end the trade (``bar_bound`` stops before the first bar that
    closes after a binding logged exit); ``last_bar`` is the symbol's last bar. ``p.max_hold`` < 0
    means no limit; a NaN ``p.risk_reward_ratio`` no take-profit. The trade's fees (fractions of
    notional) place the ROI levels and the trailing offset, as freqtrade's profit ratio does. With a
    ``price_tick`` the stop (and every trailed stop) is rounded towards the entry and every level's fill
    to the nearest tick, as freqtrade rounds them (:func:`to_tick`).

    Inside one bar: the fixed stop or the liquidation first, then ROI, then a trailing stop that has
    moved, then the take-profit (freqtrade's ``should_exit`` order; the take-profit is ours).
    """
    trade = _one_trade(
        paths.first_bar, paths.bar_bound, paths.last_bar, paths.timeframe_ns, paths.entry_ns, paths.entry_price,
        paths.direction, paths.logged_exit_ns, paths.logged_exit_price, paths.logged_exit_binds, i,
    )  # fmt: skip
    known = np.empty((2, 3), dtype=np.int64)
    reset_touches(known)
    return _exit(
        bars.times, bars.opens, bars.closes, bars.low_tree, bars.high_tree, bars.size, np.empty((2, 1)), known, trade,
        p, maintenance_margin_rate, fee_open, fee_close, price_tick,
    )  # fmt: skip


@njit(cache=True)
def _one_trade(
    first_bar, bar_bound, last_bar, timeframe_ns, entry_ns, entry_price, direction, logged_exit_ns, logged_exit_price,
    logged_exit_binds, i,
):  # fmt: skip
    return OneTrade(
        first_bar[i], bar_bound[i], last_bar[i], timeframe_ns[i], entry_ns[i], entry_price[i], direction[i],
        logged_exit_ns[i], logged_exit_price[i], logged_exit_binds[i],
    )  # fmt: skip


# Inlined into the exit search, which calls it per trade and candidate on borrowed arrays (see _exit_chunk).
@njit(cache=True, inline="always")
def _exit(
    times, opens, closes, low_tree, high_tree, size, running, known, trade, p, maintenance_margin_rate, fee_open,
    fee_close, price_tick,
):  # fmt: skip
    """:func:`trade_exit` on the bars' arrays and one trade's values; ``running`` and ``known``: the
    trade's running extremes so far (:func:`_touch`), kept across the candidates of a block."""
    first_bar = trade.first_bar
    bar_bound = trade.bar_bound
    timeframe_ns = trade.timeframe_ns
    entry_price = trade.entry_price
    direction = trade.direction
    stop_price = to_tick(entry_price * (1.0 - direction * p.stop_loss), price_tick, direction)
    take_price = entry_price * (1.0 + direction * p.stop_loss * p.risk_reward_ratio)
    liquidation_price = entry_price * (1.0 - direction * (1.0 / p.leverage - maintenance_margin_rate))
    liquidation_first = direction * (liquidation_price - stop_price) >= 0.0
    adverse_level = liquidation_price if liquidation_first else stop_price
    long = direction > 0.0

    deadline_bar = _NO_BAR
    if p.max_hold >= 0:
        due = trade.entry_ns + p.max_hold - timeframe_ns  # first bar whose close is at or after the deadline
        candidate = first_bar + np.searchsorted(times[first_bar:bar_bound], due)
        if candidate < bar_bound:
            deadline_bar = candidate
    search_stop = bar_bound if deadline_bar == _NO_BAR else deadline_bar + 1

    adverse = 0 if long else 1  # the row of ``running`` of the adverse extremes
    adverse_bar = _touch(low_tree, high_tree, size, running, known, adverse, first_bar, search_stop, adverse_level)
    if adverse_bar != _NO_BAR:
        search_stop = adverse_bar + 1
    favourable_bar = _NO_BAR
    if not np.isnan(take_price):
        favourable_bar = _touch(
            low_tree, high_tree, size, running, known, 1 - adverse, first_bar, search_stop, take_price
        )
    roi_bar, roi_fill = _NO_BAR, np.nan
    if p.minimal_roi_steps > 0:
        roi_bar, roi_fill = _roi_exit(
            times, opens, closes, low_tree, high_tree, size, trade, p, search_stop, fee_open, fee_close
        )
    profit_bar = favourable_bar
    if roi_bar != _NO_BAR and (profit_bar == _NO_BAR or roi_bar <= profit_bar):
        profit_bar = roi_bar

    if p.trailing_stop:
        static_exit = search_stop - 1
        if profit_bar != _NO_BAR and (adverse_bar == _NO_BAR or profit_bar < adverse_bar):
            static_exit = profit_bar
        trail_bar, trail_fill = _trailing_exit(
            opens, low_tree, high_tree, size, first_bar, static_exit, entry_price, direction, p, stop_price,
            adverse_level, fee_open, fee_close, price_tick,
        )  # fmt: skip
        if trail_bar != _NO_BAR:
            if trail_bar == roi_bar:
                return times[roi_bar], to_tick(roi_fill, price_tick, 0), ROI
            return times[trail_bar], to_tick(trail_fill, price_tick, 0), STOP_LOSS

    if adverse_bar != _NO_BAR and (profit_bar == _NO_BAR or adverse_bar <= profit_bar):
        open_ = opens[adverse_bar]
        if direction * (open_ - liquidation_price) <= 0.0:
            return times[adverse_bar], open_, LIQUIDATION
        if liquidation_first:
            return times[adverse_bar], liquidation_price, LIQUIDATION
        fill = open_ if direction * (open_ - stop_price) <= 0.0 else stop_price
        return times[adverse_bar], to_tick(fill, price_tick, 0), STOP_LOSS
    if roi_bar != _NO_BAR and roi_bar == profit_bar:
        return times[roi_bar], to_tick(roi_fill, price_tick, 0), ROI
    if favourable_bar != _NO_BAR:
        open_ = opens[favourable_bar]
        fill = open_ if direction * (open_ - take_price) >= 0.0 else take_price
        return times[favourable_bar], to_tick(fill, price_tick, 0), TAKE_PROFIT
    if deadline_bar != _NO_BAR:
        return times[deadline_bar] + timeframe_ns, closes[deadline_bar], TIME
    if trade.logged_exit_binds:
        return trade.logged_exit_ns, trade.logged_exit_price, SIGNAL
    return times[trade.last_bar] + timeframe_ns, closes[trade.last_bar], END_OF_DATA


@njit(cache=True)
def _roi_exit(times, opens, closes, low_tree, high_tree, size, trade, p, search_stop, fee_open, fee_close):
    """The first bar in ``[first_bar, search_stop)`` where ``trade`` exits by ROI, and its fill:
    ``(bar, fill)``, or ``(-1, nan)``. freqtrade's backtesting rules, step by step of ``p.minimal_roi``:

    - a bar's trade duration is whole minutes from the entry to the bar's open; the step in force is
      the last one starting at or before it (ratio x ``p.minimal_roi_scale``, a -1 kept);
    - the step is reached when the profit ratio at the bar's favourable extreme (high for a long, low
      for a short), rounded to 8 decimals, is strictly above it (:func:`_rounded_above`); its level is
      ``entry (1 + d ratio / leverage) x fee_factor``;
    - the fill is that level clipped into the bar; the bar's open when the step is -1 and starts on a
      whole number of bars, or when the step came into effect at this bar's open (duration = its
      minutes, a whole number of bars) and the bar opened beyond the level;
    - in the bar the trade entered (duration 0), a long cannot exit by ROI above the close of a bar
      that fell from its open when the entry was below the open (a short: mirrored); its next bars can.
    """
    n_steps = p.minimal_roi_steps
    first_bar = trade.first_bar
    entry_ns = trade.entry_ns
    entry_price = trade.entry_price
    direction = trade.direction
    timeframe_minutes = trade.timeframe_ns // NANOS_PER_MINUTE
    long = direction > 0.0
    fees = fee_factor(direction, fee_open, fee_close)
    segment = times[first_bar:search_stop]
    for s in range(n_steps):
        minutes = p.minimal_roi_minutes[s]
        start = first_bar + np.searchsorted(segment, entry_ns + minutes * NANOS_PER_MINUTE)
        stop = search_stop
        if s + 1 < n_steps:
            stop = first_bar + np.searchsorted(segment, entry_ns + p.minimal_roi_minutes[s + 1] * NANOS_PER_MINUTE)
        ratio = p.minimal_roi[s]
        if ratio != -1.0:
            ratio *= p.minimal_roi_scale
        level = entry_price * (1.0 + direction * ratio / p.leverage) * fees
        reached = entry_price * (1.0 + direction * _rounded_above(ratio) / p.leverage) * fees
        on_bar_open = timeframe_minutes > 0 and minutes % timeframe_minutes == 0
        j = start
        while j < stop:
            if long:
                j = first_touch(high_tree, size, j, stop, reached, False)
            else:
                j = first_touch(low_tree, size, j, stop, reached, True)
            if j == _NO_BAR:
                break
            open_ = opens[j]
            if ratio == -1.0 and on_bar_open:
                return j, open_
            duration = (times[j] - entry_ns) // NANOS_PER_MINUTE
            if duration > 0 and duration == minutes and on_bar_open and direction * (open_ - level) > 0.0:
                return j, open_
            close = closes[j]
            if (
                duration == 0
                and direction * (open_ - close) > 0.0
                and direction * (open_ - entry_price) > 0.0
                and direction * (level - close) > 0.0
            ):
                j += 1
                continue
            low = low_tree[size + j]
            high = high_tree[size + j]
            return j, min(max(level, low), high)
    return _NO_BAR, np.nan


@njit(cache=True)
def _rounded_above(ratio):
    """The least profit ratio that freqtrade's ``round(profit, 8) > ratio`` accepts (ties aside): half
    a unit of the 8th decimal above the last multiple of 1e-8 at or below ``ratio``."""
    return (np.floor(ratio * 1e8) + 0.5) * 1e-8


@njit(cache=True)
def _trailing_exit(
    opens, low_tree, high_tree, size, first_bar, last_bar, entry_price, direction, p, stop_price, floor_level, fee_open,
    fee_close, price_tick,
):  # fmt: skip
    """The first bar in ``[first_bar, last_bar]`` where the trailing stop (from ``stop_price``, each
    new level rounded towards the entry to ``price_tick``), once it has moved past ``floor_level``
    (the fixed stop or the liquidation price, whichever comes first), is reached: ``(bar, fill)``, or
    ``(-1, nan)``.

    As freqtrade backtests it, a bar whose adverse extreme reaches the stop as it stands moves nothing
    (freqtrade trails only while the stop is beyond the bar); any other bar first moves the stop with its
    favourable extreme, then checks its adverse one. ``trailing_stop_positive`` applies once the
    fee-inclusive profit ratio at the best price, per unit of leverage, exceeds the offset. A bar that
    opens beyond the stop in force before it fills at the open; the entry bar fills at the trailing
    distance from its open (clipped into the bar), since its path is unknown.
    """
    long = direction > 0.0
    best = entry_price
    stop = stop_price
    fees = fee_factor(direction, fee_open, fee_close)
    for j in range(first_bar, last_bar + 1):
        high = high_tree[size + j]
        low = low_tree[size + j]
        adverse = low if long else high
        if direction * (adverse - stop) <= 0.0:  # reached as it stands: freqtrade moves no stop in this bar
            if direction * (stop - floor_level) <= 0.0:
                return _NO_BAR, np.nan  # the fixed stop (or the liquidation) ends the trade here
            open_ = opens[j]
            return j, open_ if direction * (open_ - stop) <= 0.0 else stop
        extreme = high if long else low
        if direction * (extreme - best) > 0.0:
            best = extreme
        distance = p.stop_loss
        moved = direction * (best / (entry_price * fees) - 1.0)
        if not np.isnan(p.trailing_stop_positive) and moved > p.trailing_stop_positive_offset:
            distance = p.trailing_stop_positive
        before = stop
        level = to_tick(best * (1.0 - direction * distance), price_tick, direction)
        if direction * (level - stop) > 0.0:
            stop = level
        if direction * (stop - floor_level) > 0.0 and direction * (adverse - stop) <= 0.0:
            open_ = opens[j]
            if direction * (open_ - before) <= 0.0:
                return j, open_
            if j == first_bar:
                return j, min(max(open_ * (1.0 - direction * distance), low), high)
            return j, stop
    return _NO_BAR, np.nan


@njit(cache=True)
def _funding_paid(funding_times, funding_cumulative, start, stop, entry_ns, exit_ns):
    """Sum of funding rates with a funding time in (entry, exit], from the symbol's slice of the series."""
    if start >= stop:
        return 0.0
    times = funding_times[start:stop]
    after_entry = np.searchsorted(times, entry_ns, side="right")
    through_exit = np.searchsorted(times, exit_ns, side="right")
    if through_exit <= after_entry:
        return 0.0
    before = funding_cumulative[start + after_entry - 1] if after_entry > 0 else 0.0
    return funding_cumulative[start + through_exit - 1] - before


# --- K candidates at once -----------------------------------------------------------------------------

# The exit search takes the trades in chunks (one task each when parallel) and, per chunk, the
# candidates in blocks trade by trade: a block's candidates share the trade's running extremes, built
# once per block, while the outputs a chunk writes (block rows x chunk trades) stay in cache. Blocks of
# 128 rather than 32 made the benchmark's exit phase (100 candidates) about a fifth faster.
TRADE_CHUNK = 64
CANDIDATE_BLOCK = 128
RUNNING_BARS = 1024
"""Bars from a trade's first whose running extremes the sweep keeps, shared by a block's candidates."""
SWEEP_PAIRS = 1 << 20
"""Trade-candidate exits held at once: :func:`sweep` takes the candidates in groups of this many pairs."""


def sweep(bars, paths, book, calendar, parameters, weights, costs, out):
    """Replay N trades under K candidates; return the (K, len(METRIC_NAMES)) metrics table.

    ``parameters[k, g]`` is candidate k's record (the playbook schema's ``KERNEL_DTYPE``) for
    parameter group g (a regime, or the default block); ``weights[k, s]`` scales strategy s's margin.
    ``out`` (:class:`Outcomes`) keeps per-trade outcomes and daily equity when its arrays have K rows.
    The candidates go in groups of ``SWEEP_PAIRS // N``: :func:`exit_outcomes`, then
    :func:`candidate_metrics`.
    """
    n_candidates, n = parameters.shape[0], paths.entry_ns.shape[0]
    metrics = np.empty((n_candidates, len(METRIC_NAMES)))
    group = max(1, min(n_candidates, SWEEP_PAIRS // max(n, 1)))
    keep = out.taken.shape[0] > 0
    if not keep:
        scratch = (
            np.empty((group, n), dtype=np.bool_),
            np.empty((group, n), dtype=np.int64),
            np.empty((group, n), dtype=np.int8),
            np.empty((group, n)),
        )
    for first in range(0, n_candidates, group):
        rows = slice(first, min(first + group, n_candidates))
        taken, exit_ns, reason, returns = (
            (out.taken[rows], out.exit_ns[rows], out.reason[rows], out.returns[rows])
            if keep
            else (values[: rows.stop - rows.start] for values in scratch)
        )
        outcomes = Outcomes(taken, exit_ns, out.exit_price[rows], reason, returns, out.margin[rows], out.equity[rows])
        exit_outcomes(bars, paths, book, calendar, parameters[rows], costs, outcomes)
        metrics[rows] = candidate_metrics(paths, book, calendar, parameters[rows], weights[rows], costs, outcomes)
    return metrics


@njit(cache=True, parallel=True, nogil=True)
def exit_outcomes(bars, paths, book, calendar, parameters, costs, out):
    """Every trade's exit and return on margin under every candidate of ``parameters`` (K, groups):
    fills ``out``'s ``taken``, ``exit_ns``, ``reason`` and ``returns`` (K, N), and ``exit_price`` when it
    has K rows. A trade not taken has False and zeros."""
    n = paths.entry_ns.shape[0]
    for chunk in prange((n + TRADE_CHUNK - 1) // TRADE_CHUNK):
        first = chunk * TRADE_CHUNK
        running = np.empty((2, RUNNING_BARS + 1))
        known = np.empty((2, 3), dtype=np.int64)
        _exit_chunk(
            first, min(first + TRADE_CHUNK, n), bars, paths, book, calendar, parameters, costs, out, running, known
        )


@njit(cache=True)
def _exit_chunk(first_trade, stop_trade, bars, paths, book, calendar, parameters, costs, out, running, known):
    # Every array is taken out of its record here, once, and borrowed: bound and passed on inside the
    # loops, a counted array costs atomic reference counts on every trade and candidate.
    times, opens, closes = borrowed(bars.times), borrowed(bars.opens), borrowed(bars.closes)
    low_tree, high_tree, size = borrowed(bars.low_tree), borrowed(bars.high_tree), bars.size
    first_bar, bar_bound, last_bar = borrowed(paths.first_bar), borrowed(paths.bar_bound), borrowed(paths.last_bar)
    timeframe_ns, entry_ns = borrowed(paths.timeframe_ns), borrowed(paths.entry_ns)
    entry_price, direction = borrowed(paths.entry_price), borrowed(paths.direction)
    logged_exit_ns, logged_exit_price = borrowed(paths.logged_exit_ns), borrowed(paths.logged_exit_price)
    logged_exit_binds = borrowed(paths.logged_exit_binds)
    confidence, group, price_tick = borrowed(book.confidence), borrowed(book.group), borrowed(book.price_tick)
    fee_open_of, fee_close_of = borrowed(book.fee_open), borrowed(book.fee_close)
    funding_start, funding_stop = borrowed(book.funding_start), borrowed(book.funding_stop)
    funding_times, funding_cumulative = borrowed(calendar.funding_times), borrowed(calendar.funding_cumulative)
    taken_out, exit_ns_out, exit_price_out = borrowed(out.taken), borrowed(out.exit_ns), borrowed(out.exit_price)
    reason_out, returns_out = borrowed(out.reason), borrowed(out.returns)
    running, known = borrowed(running), borrowed(known)
    keep_prices = exit_price_out.shape[0] > 0
    mmr = costs.maintenance_margin_rate
    n_candidates = parameters.shape[0]
    for block in range(0, n_candidates, CANDIDATE_BLOCK):
        for i in range(first_trade, stop_trade):
            reset_touches(known)
            fee_open = costs.fee if np.isnan(fee_open_of[i]) else fee_open_of[i]
            fee_close = costs.fee if np.isnan(fee_close_of[i]) else fee_close_of[i]
            trade = _one_trade(
                first_bar, bar_bound, last_bar, timeframe_ns, entry_ns, entry_price, direction, logged_exit_ns,
                logged_exit_price, logged_exit_binds, i,
            )  # fmt: skip
            for k in range(block, min(block + CANDIDATE_BLOCK, n_candidates)):
                p = parameters[k, group[i]]
                taken = confidence[i] >= p.confidence_threshold
                taken_out[k, i] = taken
                if not taken:
                    exit_ns_out[k, i] = 0
                    reason_out[k, i] = 0
                    returns_out[k, i] = 0.0
                    if keep_prices:
                        exit_price_out[k, i] = 0.0
                    continue
                t, price, why = _exit(
                    times, opens, closes, low_tree, high_tree, size, running, known, trade, p, mmr, fee_open,
                    fee_close, price_tick[i],
                )  # fmt: skip
                r = -1.0
                if why != LIQUIDATION:
                    r = margin_return(direction[i], p.leverage, entry_price[i], price, fee_open, fee_close)
                    funding = _funding_paid(
                        funding_times, funding_cumulative, funding_start[i], funding_stop[i], entry_ns[i], t
                    )
                    r = max(r - direction[i] * p.leverage * funding, -1.0)
                exit_ns_out[k, i] = t
                reason_out[k, i] = why
                returns_out[k, i] = r
                if keep_prices:
                    exit_price_out[k, i] = price


@njit(cache=True, parallel=True, nogil=True)
def candidate_metrics(paths, book, calendar, parameters, weights, costs, out):
    """The (K, len(METRIC_NAMES)) metrics of the compounding portfolio of every candidate, from its
    exits in ``out`` (:func:`exit_outcomes`); fills ``out.margin`` and ``out.equity`` when they have K rows."""
    n_candidates = parameters.shape[0]
    metrics = np.empty((n_candidates, len(METRIC_NAMES)))
    for k in prange(n_candidates):
        metrics[k] = _portfolio(k, paths, book, calendar, parameters, weights, costs, out)
    return metrics


@njit(cache=True)
def _portfolio(k, paths, book, calendar, parameters, weights, costs, out):
    # The arrays borrowed once (see _exit_chunk): a record's array read in a loop is counted each time.
    entry_ns, entry_price, direction = borrowed(paths.entry_ns), borrowed(paths.entry_price), borrowed(paths.direction)
    group, strategy, day_close_start = borrowed(book.group), borrowed(book.strategy), borrowed(book.day_close_start)
    fee_open_of = borrowed(book.fee_open)
    day_ends, day_close, day_close_ns = (
        borrowed(calendar.day_ends),
        borrowed(calendar.day_close),
        borrowed(calendar.day_close_ns),
    )
    reason = borrowed(out.reason)
    n = entry_ns.shape[0]
    n_days = day_ends.shape[0]
    fee = costs.fee
    initial_equity = costs.initial_equity
    taken = borrowed(out.taken[k])
    exits = borrowed(out.exit_ns[k])
    returns = borrowed(out.returns[k])

    # Portfolio: margin = position_size x strategy weight x equity realised before the entry. A trade
    # that closed before entry i also entered before it, so its pnl is known when i is sized.
    taken_index = np.flatnonzero(taken)
    liquidations = 0
    in_exit_order = True
    for position in range(taken_index.shape[0]):
        trade = taken_index[position]
        liquidations += reason[k, trade] == LIQUIDATION
        if position > 0 and exits[trade] < exits[taken_index[position - 1]]:
            in_exit_order = False
    # A stable sort of exits already in order is the identity: skip it (trades that never overlap).
    by_exit = taken_index if in_exit_order else taken_index[np.argsort(exits[taken_index], kind="mergesort")]
    pnl = np.zeros(n)
    margin = np.zeros(n)
    realised = initial_equity
    closed = 0
    for trade in taken_index:
        while closed < by_exit.shape[0] and exits[by_exit[closed]] < entry_ns[trade]:
            realised += pnl[by_exit[closed]]
            closed += 1
        share = parameters[k, group[trade]].position_size * weights[k, strategy[trade]]
        margin[trade] = share * max(realised, 0.0)
        pnl[trade] = margin[trade] * returns[trade]
    if out.margin.shape[0] > 0:
        out.margin[k, :] = margin

    # Equity at each day end: pnl of trades closed by then, open trades marked to the last close.
    # Day positions by walking, not searching: entries come in order, and the marking walk from the
    # entry's day ends at the exit's (the first day end at or after it, as a left search finds it).
    equity = np.full(n_days, initial_equity)
    realised_by_day = np.zeros(n_days)
    entry_day = 0
    for trade in taken_index:
        while entry_day < n_days and day_ends[entry_day] < entry_ns[trade]:
            entry_day += 1
        leverage = parameters[k, group[trade]].leverage
        day = entry_day
        while day < n_days and day_ends[day] < exits[trade]:
            mark_at = day_close_start[trade] + day
            mark = day_close[mark_at] if day_close_ns[mark_at] > entry_ns[trade] else entry_price[trade]
            fee_open = fee if np.isnan(fee_open_of[trade]) else fee_open_of[trade]
            unrealised = leverage * direction[trade] * (mark / entry_price[trade] - 1.0) - fee_open * leverage
            equity[day] += margin[trade] * max(unrealised, -1.0)
            day += 1
        exit_day = day if exits[trade] >= entry_ns[trade] else np.searchsorted(day_ends, exits[trade])
        if exit_day < n_days:
            realised_by_day[exit_day] += pnl[trade]
    cumulative = 0.0
    for day in range(n_days):
        cumulative += realised_by_day[day]
        equity[day] += cumulative
    if out.equity.shape[0] > 0:
        out.equity[k, :] = equity
    return _metrics(equity, initial_equity, returns, pnl, taken, exits, entry_ns, liquidations, day_ends)


@njit(cache=True)
def _metrics(equity, initial_equity, returns, pnl, taken, exits, entry_ns, liquidations, day_ends):
    out = np.full(len(METRIC_NAMES), np.nan)
    n_days = equity.shape[0]
    final = equity[n_days - 1] if n_days > 0 else initial_equity
    out[0] = final / initial_equity - 1.0
    out[1] = np.log(final / initial_equity) if final > 0.0 else -np.inf
    daily = np.empty(n_days)
    previous = initial_equity
    peak = initial_equity
    worst = 0.0
    for day in range(n_days):
        daily[day] = equity[day] / previous - 1.0 if previous > 0.0 else 0.0
        previous = equity[day]
        peak = max(peak, equity[day])
        worst = min(worst, equity[day] / peak - 1.0)
    if n_days > 1:
        mean = daily.mean()
        spread = np.sqrt(((daily - mean) ** 2).sum() / (n_days - 1))
        downside = np.sqrt((np.minimum(daily, 0.0) ** 2).mean())
        out[2] = mean / spread * np.sqrt(DAYS_PER_YEAR) if spread > 0.0 else np.nan
        if downside > 0.0:
            out[3] = mean / downside * np.sqrt(DAYS_PER_YEAR)
        elif mean > 0.0:
            out[3] = np.inf
    out[4] = worst
    if n_days > 0 and worst < 0.0 and final > 0.0:
        annualised = (final / initial_equity) ** (DAYS_PER_YEAR / n_days) - 1.0
        out[5] = annualised / -worst
    n_taken = taken.sum()
    out[9] = n_taken
    out[10] = liquidations
    if n_taken > 0:
        wins = 0
        gains = 0.0
        losses = 0.0
        total_return = 0.0
        for i in range(taken.shape[0]):
            if taken[i]:
                total_return += returns[i]
                if returns[i] > 0.0:
                    wins += 1
                if pnl[i] > 0.0:
                    gains += pnl[i]
                else:
                    losses -= pnl[i]
        out[6] = wins / n_taken
        out[7] = gains / losses if losses > 0.0 else np.inf
        out[8] = total_return / n_taken
    out[11] = _exposure(taken, entry_ns, exits, day_ends)
    return out


@njit(cache=True)
def _exposure(taken, entry_ns, exits, day_ends):
    """Share of the calendar grid's time with at least one open trade (trades sorted by entry)."""
    if day_ends.shape[0] == 0:
        return 0.0
    span = day_ends[-1] - (day_ends[0] - NANOS_PER_DAY)
    covered = 0
    open_until = np.iinfo(np.int64).min
    open_from = 0
    for i in range(taken.shape[0]):
        if not taken[i]:
            continue
        if entry_ns[i] > open_until:
            if open_until > np.iinfo(np.int64).min:
                covered += open_until - open_from
            open_from = entry_ns[i]
            open_until = exits[i]
        else:
            open_until = max(open_until, exits[i])
    if open_until > np.iinfo(np.int64).min:
        covered += open_until - open_from
    return covered / span
