"""vectorbt in the running product: replays re-simulated in vectorbt 1.2 (:func:`check`), which the gate
runs on every change it accepts before the change is proposed. (Replay results as vectorbt portfolios:
:mod:`framework.replay.vectorbt_portfolio`.)

The check takes candidates' replays of prepared trades (:func:`replayed`) and simulates each taken
trade again with ``vectorbt.Portfolio.from_signals`` (numba engine): one call per symbol and span of
``SPAN_BARS`` bars, the trades entering in it packed into columns in which they never overlap (one
position per column), over the bars of their span.
How the replay's rules (docs/REPLAY.md) are put to vectorbt:

- entry: a signal on the bar before the first bar the replay scans, filled at our entry price; vectorbt
  never checks stops on its entry bar, so both engines start on the same bar. Stops are measured from
  the fill (``stop_entry_price="fillprice"``);
- levels: ``sl_stop = stop_loss``, ``tp_stop = stop_loss x risk_reward_ratio`` of the trade's regime
  block. In both, high and low detect a hit, a bar opening beyond a level fills at the open, the stop
  wins a bar touching both, and a level wins over an exit signal on its bar;
- the end the tuned levels do not choose: an exit signal on the bar the replay ends on, at the close of
  a ``max_hold`` deadline's bar, else at the logged price on the last bar closing by a binding logged
  exit, else at the close of the symbol's last bar;
- ``trailing_stop`` as ``sl_trail``: vectorbt checks a bar against the stop trailed from the bars
  before it and then moves the stop with the bar's extreme; ours, as freqtrade, moves it first. A
  trailing trade is compared while that order cannot matter: no bar up to its exit both set a new best
  price and reached the stop moved by it, and ``trailing_stop_positive`` never came into force;
- leverage: vectorbt's return of a trade is on its notional, ours on margin: ours = leverage x vectorbt's.

Trades vectorbt cannot express are counted by reason (:data:`NOT_EXPRESSIBLE`), each found on
vectorbt's path and the inputs, not read from the outcome being checked. The rest are compared: the
exit bar exactly, the exit price to :data:`PRICE_RTOL` relative, the return on margin to
:data:`RETURN_TOL` of the notional (x leverage: a return near zero has no relative error to speak of),
and whether the trade is taken at all (the confidence filter).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from framework.config import SERIAL_PARALLEL, ParallelSettings
from framework.parallel import ordered_map
from framework.replay import kernels
from framework.replay.engine import ReplayInputs, SweepResult
from framework.replay.vectorbt_portfolio import LEVEL_EXITS, load_vectorbt, pack_columns, trade_fees

PRICE_RTOL = 1e-9
"""Exit prices may differ by this fraction of vectorbt's."""
RETURN_TOL = 1e-9
"""Returns on margin may differ by this much per unit of leverage (a fraction of the notional)."""
SHOWN_DISAGREEMENTS = 5

LIQUIDATION = "liquidation price reached"
FUNDING = "funding charged"
MARGIN_FLOOR = "loss beyond the margin"
TRAILING_ORDER = "trailing stop moved and reached in one bar"
TRAILING_POSITIVE = "trailing_stop_positive in force"
NO_ENTRY_BAR = "no bar before the entry"
NO_EXIT_BAR = "no bar closes before the exit"
ROI_TABLE = "ROI table in force"
NOT_EXPRESSIBLE = {
    LIQUIDATION: "vectorbt 1.2 has no margin: it would carry the position on to the stop",
    FUNDING: "vectorbt 1.2 charges no funding",
    MARGIN_FLOOR: "a gap beyond the margin: ours is floored at -1 (isolated margin), vectorbt's is not",
    TRAILING_ORDER: "vectorbt checks the bar against the stop before moving it, freqtrade and ours after",
    TRAILING_POSITIVE: "vectorbt's sl_trail trails at one distance",
    NO_ENTRY_BAR: "vectorbt enters on a bar, and the first bar the replay scans is the symbol's first",
    NO_EXIT_BAR: "vectorbt cannot enter and exit on one bar",
    ROI_TABLE: "vectorbt 1.2 has no profit target that changes with the time in the trade",
}
"""Why a trade is not compared, by the name the evidence counts it under."""

_SIMULATION_KEY = (
    "source",
    "trade",
    "end_bar",
    "end_price",
    "stop_loss",
    "take_profit",
    "trailing",
    "trailing_positive",
    "trailing_offset",
    "leverage",
    "fee_open",
    "fee_close",
)
"""What a job's simulation and its expressibility depend on (``source``: which prepared inputs)."""
_CLOSED = 1  # vectorbt's TradeStatus.Closed
SPAN_BARS = 20_000
"""The bars one ``from_signals`` call covers (more, by the longest trade entering in them)."""


@dataclass(frozen=True)
class Replayed:
    """One candidate's replay of prepared trades, as the check reads it. Arrays are in the inputs' order
    (by entry): the outcomes being checked and ``rows``, the trades to check. ``group`` is what the
    agreement is reported for (a change), ``label`` which playbook of it (``current``, ``changed``)."""

    group: Hashable
    label: str
    inputs: ReplayInputs
    parameters: np.ndarray
    """(parameter groups,) records of the playbook schema's ``KERNEL_DTYPE``."""
    costs: kernels.Costs
    taken: np.ndarray
    exit_ns: np.ndarray
    exit_price: np.ndarray
    reason: np.ndarray
    returns: np.ndarray
    rows: np.ndarray


def replayed(
    result: SweepResult, candidate: int, *, group: Hashable, label: str, rows: np.ndarray | None = None
) -> Replayed:
    """Candidate ``candidate`` of ``result`` (replayed with ``per_trade=True``) for :func:`check`;
    ``rows`` is a boolean mask in the caller's trade order (that of :meth:`SweepResult.trades`), all
    trades when None."""
    if result.per_trade is None or result.tables is None or result.costs is None:
        raise ValueError("the vectorbt check needs a replay_tables(..., per_trade=True) result")
    inputs = result.inputs
    mask = np.ones(len(inputs.trade_id), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)[inputs.order]
    out = result.per_trade
    return Replayed(
        group=group,
        label=label,
        inputs=inputs,
        parameters=result.tables.parameters[candidate],
        costs=result.costs,
        taken=out["taken"][candidate],
        exit_ns=out["exit_ns"][candidate],
        exit_price=out["exit_price"][candidate],
        reason=out["reason"][candidate],
        returns=out["return"][candidate],
        rows=mask,
    )


@dataclass
class Agreement:
    """How one group's replays and vectorbt compare. Per playbook label: trades ``compared`` and
    ``agreeing``, ``not_expressible`` by reason, ``not_taken`` (below the confidence threshold in
    both). ``largest``: the largest differences over the trades compared (exit bar in bars, exit price
    relative, return per unit of leverage). ``seconds``: the whole check's time, vectorbt's import and
    compilation included."""

    compared: dict[str, int] = field(default_factory=dict)
    agreeing: dict[str, int] = field(default_factory=dict)
    not_expressible: dict[str, dict[str, int]] = field(default_factory=dict)
    not_taken: dict[str, int] = field(default_factory=dict)
    largest: dict[str, float] = field(default_factory=lambda: {"exit_bar": 0.0, "exit_price": 0.0, "return": 0.0})
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    """The first :data:`SHOWN_DISAGREEMENTS` trades that disagree."""
    disagreeing: int = 0
    seconds: float = 0.0

    @property
    def agree(self) -> bool:
        return self.disagreeing == 0

    def evidence(self) -> dict[str, Any]:
        """The agreement as a verdict's ``evidence["vectorbt"]`` (JSON: finite numbers only)."""
        return {
            "agree": self.agree,
            "engine": "vectorbt 1.2 Portfolio.from_signals (numba)",
            "compared": dict(self.compared),
            "agreeing": dict(self.agreeing),
            "not_expressible": {label: dict(counts) for label, counts in self.not_expressible.items()},
            "not_taken": dict(self.not_taken),
            "largest_difference": {k: float(v) for k, v in self.largest.items()},
            "tolerance": {"exit_bar": 0, "exit_price": PRICE_RTOL, "return": RETURN_TOL},
            "disagreeing": self.disagreeing,
            "disagreements": list(self.disagreements),
            "seconds": round(self.seconds, 3),
        }

    def refusal(self) -> str:
        """The reason a change is refused when vectorbt disagrees with its replay."""
        compared = sum(self.compared.values())
        first = self.disagreements[0] if self.disagreements else {}
        return (
            f"the replay disagrees with vectorbt on {self.disagreeing} of {compared} out-of-sample trades "
            f"(first: {_disagreement_text(first)}): not proposed until the replay is fixed"
        )

    def _start(self, label: str) -> None:
        for counts in (self.compared, self.agreeing, self.not_taken):
            counts.setdefault(label, 0)
        self.not_expressible.setdefault(label, {})

    def _disagree(self, record: dict[str, Any]) -> None:
        self.disagreeing += 1
        if len(self.disagreements) < SHOWN_DISAGREEMENTS:
            self.disagreements.append(record)


def _disagreement_text(record: dict[str, Any]) -> str:
    if not record:
        return "none recorded"
    parts = [f"{record['playbook']} playbook, trade {record['trade_id']}"]
    for name in ("taken", "exit_bar", "exit_price", "return"):
        if name in record.get("differs", ()):
            ours, theirs = record["replay"][name], record["vectorbt"][name]
            parts.append(f"{name.replace('_', ' ')} {ours} replayed, {theirs} in vectorbt")
    return "; ".join(parts)


def check(replays: Sequence[Replayed], parallel: ParallelSettings = SERIAL_PARALLEL) -> dict[Hashable, Agreement]:
    """Re-simulate the taken trades of every replay in vectorbt and compare them (see the module doc):
    one :class:`Agreement` per group. Imports vectorbt (seconds) and runs one ``from_signals`` per
    symbol and span of ``SPAN_BARS`` bars, every replay's trades of it together; the symbols are
    simulated at once as ``parallel`` says (:mod:`framework.parallel`; on process or Dask workers,
    they import vectorbt, not this process). Replays must be of one market: a symbol's bars are read
    from the first replay that has it."""
    started = time.perf_counter()
    if parallel.in_other_processes:
        agreements = _checked(replays, parallel)
    else:
        load_vectorbt()
        # the collections below need only look at what the check creates: everything older (vectorbt's
        # modules, the tune's data) is set aside, or each would scan the whole heap (a quarter second each)
        gc.freeze()
        try:
            agreements = _checked(replays, parallel)
        finally:
            gc.unfreeze()
    seconds = time.perf_counter() - started
    for agreement in agreements.values():
        agreement.seconds = seconds
    return agreements


def _checked(replays: Sequence[Replayed], parallel: ParallelSettings) -> dict[Hashable, Agreement]:
    agreements: dict[Hashable, Agreement] = {}
    jobs: dict[str, list[dict[str, np.ndarray]]] = {}
    bars: dict[str, _SymbolBars] = {}
    sources: dict[int, int] = {}
    for number, replay in enumerate(replays):
        agreement = agreements.setdefault(replay.group, Agreement())
        agreement._start(replay.label)
        source = sources.setdefault(id(replay.inputs), len(sources))
        for s, symbol in enumerate(replay.inputs.symbols):
            symbol_bars = bars.setdefault(symbol, _symbol_bars(replay.inputs, s))
            prepared = _jobs(replay, number, source, s, symbol_bars, agreement)
            if prepared is not None:
                jobs.setdefault(symbol, []).append(prepared)
    merged = {
        symbol: {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        for symbol, parts in jobs.items()
    }
    inverses: list[np.ndarray] = []
    distinct: list[tuple[_SymbolBars, dict[str, np.ndarray]]] = []
    for symbol, symbol_jobs in merged.items():
        # a trade replayed under the same parameters in several replays is simulated once
        keys = np.column_stack([symbol_jobs[name].astype(np.float64) for name in _SIMULATION_KEY])
        _, first, inverse = np.unique(np.nan_to_num(keys, nan=-1.0), axis=0, return_index=True, return_inverse=True)
        inverses.append(inverse.ravel())
        distinct.append((bars[symbol], {name: values[first] for name, values in symbol_jobs.items()}))
    simulated = ordered_map(_simulated, None, distinct, parallel)
    for (symbol, symbol_jobs), inverse, outcome in zip(merged.items(), inverses, simulated, strict=True):
        exit_bar, exit_price, returns = (values[inverse] for values in outcome)
        _compare(replays, agreements, bars[symbol], symbol_jobs, exit_bar, exit_price, returns)
    return agreements


def _simulated(_: None, work: tuple[_SymbolBars, dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_simulate_by_span` of one symbol's distinct jobs (a unit of :func:`framework.parallel.ordered_map`)."""
    try:
        return _simulate_by_span(*work)
    finally:
        # vectorbt's indexers hold bound methods of their portfolio: a cycle only the collector frees,
        # which kept each span's grids and records alive long after (gigabytes over ten symbols)
        gc.collect()


@dataclass(frozen=True)
class _SymbolBars:
    times: np.ndarray
    opens: np.ndarray
    highs: np.ndarray
    lows: np.ndarray
    closes: np.ndarray
    timeframe_ns: int


def _symbol_bars(inputs: ReplayInputs, s: int) -> _SymbolBars:
    start, stop, step = (int(x) for x in inputs.segments[s])
    bars = inputs.bars
    leaves = slice(int(bars.size) + start, int(bars.size) + stop)
    return _SymbolBars(
        bars.times[start:stop],
        bars.opens[start:stop],
        bars.high_tree[leaves],
        bars.low_tree[leaves],
        bars.closes[start:stop],
        step,
    )


def _jobs(
    replay: Replayed, number: int, source: int, s: int, bars: _SymbolBars, agreement: Agreement
) -> dict[str, np.ndarray] | None:
    """The trades of symbol ``s`` to simulate (bar indices local to the symbol), after counting those
    not taken and those with no bar to enter or exit on; disagreements on ``taken`` recorded."""
    inputs, label = replay.inputs, replay.label
    start = int(inputs.segments[s, 0])
    idx = np.flatnonzero(replay.rows & (inputs.symbol_index == s))
    if idx.size == 0:
        return None
    p = replay.parameters[inputs.book.group[idx]]
    taken = inputs.book.confidence[idx] >= p["confidence_threshold"]
    for i in idx[taken != replay.taken[idx]]:
        t = bool(replay.taken[i])
        agreement._disagree(_record(replay, i, ("taken",), {"taken": t}, {"taken": not t}))
    agreement.not_taken[label] += int((~taken & ~replay.taken[idx]).sum())
    keep = taken & replay.taken[idx]
    idx, p = idx[keep], p[keep]
    paths = inputs.paths
    times, n_bars, step = bars.times, len(bars.times), bars.timeframe_ns
    first = paths.first_bar[idx] - start
    bound = paths.bar_bound[idx] - start
    binds = paths.logged_exit_binds[idx]
    entry_ns = paths.entry_ns[idx]
    deadline = np.maximum(np.searchsorted(times, entry_ns + p["max_hold"] - step), first)
    timed = (p["max_hold"] >= 0) & (deadline < bound)
    signal = ~timed & binds
    end_bar = np.where(timed, deadline, np.where(signal, bound - 1, n_bars - 1))
    end_price = np.where(signal, paths.logged_exit_price[idx], np.nan)
    no_entry = first == 0
    no_exit = ~no_entry & ((first >= n_bars) | (end_bar < first))
    roi = ~no_entry & ~no_exit & (p["minimal_roi_steps"] > 0)
    skipped = agreement.not_expressible[label]
    for reason, mask in ((NO_ENTRY_BAR, no_entry), (NO_EXIT_BAR, no_exit), (ROI_TABLE, roi)):
        if mask.any():
            skipped[reason] = skipped.get(reason, 0) + int(mask.sum())
    ok = ~no_entry & ~no_exit & ~roi
    if not ok.any():
        return None
    idx, p, first, end_bar, end_price = idx[ok], p[ok], first[ok], end_bar[ok], end_price[ok]
    direction = paths.direction[idx]
    entry_price = paths.entry_price[idx]
    exit_ns = replay.exit_ns[idx]
    level = np.isin(replay.reason[idx], LEVEL_EXITS)
    at_open = np.minimum(np.searchsorted(times, exit_ns), n_bars - 1)
    closed_by = np.searchsorted(times, exit_ns - step, side="right") - 1
    ours_bar = np.where(level, np.where(times[at_open] == exit_ns, at_open, -1), closed_by)
    mmr = replay.costs.maintenance_margin_rate
    return {
        "replay": np.full(idx.size, number, dtype=np.int64),
        "source": np.full(idx.size, source, dtype=np.int64),
        "trade": idx,
        "entry_bar": first - 1,
        "end_bar": end_bar,
        "end_price": end_price,
        "direction": direction,
        "entry_price": entry_price,
        "entry_ns": paths.entry_ns[idx],
        "stop_loss": p["stop_loss"],
        "take_profit": p["stop_loss"] * p["risk_reward_ratio"],
        "trailing": p["trailing_stop"],
        "trailing_positive": p["trailing_stop_positive"],
        "trailing_offset": p["trailing_stop_positive_offset"],
        "leverage": p["leverage"],
        "liquidation_price": entry_price * (1.0 - direction * (1.0 / p["leverage"] - mmr)),
        "fee_open": trade_fees(inputs.book.fee_open[idx], replay.costs.fee),
        "fee_close": trade_fees(inputs.book.fee_close[idx], replay.costs.fee),
        "funding_start": inputs.book.funding_start[idx],
        "funding_stop": inputs.book.funding_stop[idx],
        "ours_bar": ours_bar,
        "ours_price": replay.exit_price[idx],
        "ours_return": replay.returns[idx],
    }


def _simulate_by_span(bars: _SymbolBars, jobs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_simulate` of the jobs entering in each span of ``SPAN_BARS`` bars in turn. A job's
    simulation reads only its own column's bars, so the results are those of one call over the whole
    symbol; the grids and vectorbt's records are a span's bars long instead of the symbol's (a year of
    1-minute bars times the columns, several times over, was gigabytes)."""
    span = jobs["entry_bar"] // SPAN_BARS
    exit_bar = np.empty(span.size, dtype=np.int64)
    exit_price, returns = np.empty(span.size), np.empty(span.size)
    for value in np.unique(span):
        rows = np.flatnonzero(span == value)
        exit_bar[rows], exit_price[rows], returns[rows] = _simulate(bars, {k: v[rows] for k, v in jobs.items()})
    return exit_bar, exit_price, returns


def _simulate(bars: _SymbolBars, jobs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """vectorbt's exit bar (local to the symbol), exit price and trade return (on the notional, fees
    included) of every job: one ``from_signals`` over the jobs' span, a column per lane. Each trade's
    fees are a grid: its entry fee on its entry bar, its exit fee on every later bar of its lane up to
    its last (a lane's trades never overlap, and vectorbt exits no trade on its entry bar)."""
    vbt = load_vectorbt()

    lanes = pack_columns(jobs["entry_bar"], jobs["end_bar"])
    low, high = int(jobs["entry_bar"].min()), int(jobs["end_bar"].max()) + 1
    shape = (high - low, int(lanes.max()) + 1)
    rows, ends = jobs["entry_bar"] - low, jobs["end_bar"] - low
    long = jobs["direction"] > 0

    def marked(at: np.ndarray, where: np.ndarray) -> np.ndarray:
        flags = np.zeros(shape, dtype=bool, order="F")
        flags[at[where], lanes[where]] = True
        return flags

    def placed(at: np.ndarray, values: np.ndarray, fill: float) -> np.ndarray:
        grid = np.full(shape, fill, order="F")
        grid[at, lanes] = values
        return grid

    price = placed(ends, np.where(np.isnan(jobs["end_price"]), np.inf, jobs["end_price"]), np.inf)
    price[rows, lanes] = jobs["entry_price"]
    fees = np.zeros(shape, order="F")
    for row, end, lane, fee_open, fee_close in zip(rows, ends, lanes, jobs["fee_open"], jobs["fee_close"], strict=True):
        fees[row, lane] = fee_open
        fees[row + 1 : end + 1, lane] = fee_close
    trailing = np.zeros(shape, dtype=bool, order="F")
    trailing[rows, lanes] = jobs["trailing"]
    # naive UTC: vectorbt's shape checks turn a tz-aware index into one Timestamp object per bar
    index = pd.DatetimeIndex(bars.times[low:high].view("datetime64[ns]"))

    # the grids in column order, as pandas keeps a frame and vectorbt walks it: passed on without a copy
    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=index, copy=False)

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values[low:high], index=index)

    per_lane = np.bincount(lanes).max()
    cash = 2.0 * float(bars.highs[low:high].max()) * (per_lane + 1)  # one unit a trade: never short of cash
    portfolio = vbt.Portfolio.from_signals(
        series(bars.closes),
        entries=frame(marked(rows, long)),
        exits=frame(marked(ends, long)),
        short_entries=frame(marked(rows, ~long)),
        short_exits=frame(marked(ends, ~long)),
        open=series(bars.opens),
        high=series(bars.highs),
        low=series(bars.lows),
        price=frame(price),
        sl_stop=frame(placed(rows, jobs["stop_loss"], np.nan)),
        sl_trail=frame(trailing),
        tp_stop=frame(placed(rows, jobs["take_profit"], np.nan)),
        size=1.0,
        size_type="amount",
        fees=frame(fees),
        init_cash=cash,
        stop_entry_price="fillprice",
        upon_opposite_entry="ignore",
        accumulate=False,
        freq=pd.Timedelta(bars.timeframe_ns, unit="ns"),
        max_orders=2 * len(rows),  # an entry and an exit a trade; vectorbt's default is one per cell
    )
    records = portfolio.trades.values
    keys = records["col"].astype(np.int64) * shape[0] + records["entry_idx"]
    order = np.argsort(keys, kind="stable")
    wanted = lanes * shape[0] + rows
    found = np.minimum(np.searchsorted(keys[order], wanted), max(len(keys) - 1, 0))
    exit_bar = np.full(len(rows), -1, dtype=np.int64)
    exit_price = np.full(len(rows), np.nan)
    returns = np.full(len(rows), np.nan)
    if len(keys):
        record = records[order[found]]
        hit = (keys[order[found]] == wanted) & (record["status"] == _CLOSED)
        exit_bar = np.where(hit, record["exit_idx"] + low, -1)
        exit_price = np.where(hit, record["exit_price"], np.nan)
        returns = np.where(hit, record["return"], np.nan)
    return exit_bar, exit_price, returns


def _compare(
    replays: Sequence[Replayed],
    agreements: dict[Hashable, Agreement],
    bars: _SymbolBars,
    jobs: dict[str, np.ndarray],
    exit_bar: np.ndarray,
    exit_price: np.ndarray,
    returns: np.ndarray,
) -> None:
    for j in range(len(exit_bar)):
        replay = replays[int(jobs["replay"][j])]
        agreement = agreements[replay.group]
        reason = _not_expressible(replay.inputs, bars, jobs, j, int(exit_bar[j]), float(returns[j]))
        if reason is not None:
            skipped = agreement.not_expressible[replay.label]
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        agreement.compared[replay.label] += 1
        leverage = float(jobs["leverage"][j])
        ours = {
            "exit_bar": int(jobs["ours_bar"][j]),
            "exit_price": float(jobs["ours_price"][j]),
            "return": float(jobs["ours_return"][j]),
        }
        theirs = {"exit_bar": int(exit_bar[j]), "exit_price": float(exit_price[j]), "return": leverage * returns[j]}
        differences = {
            "exit_bar": abs(ours["exit_bar"] - theirs["exit_bar"]),
            "exit_price": abs(ours["exit_price"] - theirs["exit_price"]) / abs(theirs["exit_price"]),
            "return": abs(ours["return"] - theirs["return"]) / leverage,
        }
        limits = {"exit_bar": 0.0, "exit_price": PRICE_RTOL, "return": RETURN_TOL}
        for name, value in differences.items():
            if np.isfinite(value):
                agreement.largest[name] = max(agreement.largest[name], float(value))
        differs = tuple(name for name, value in differences.items() if not value <= limits[name])
        if not differs:
            agreement.agreeing[replay.label] += 1
            continue
        shown = {name: _shown(bars, name, value) for name, value in ours.items()}
        vectorbt = {name: _shown(bars, name, value) for name, value in theirs.items()}
        agreement._disagree(_record(replay, int(jobs["trade"][j]), differs, shown, vectorbt))


def _shown(bars: _SymbolBars, name: str, value: float) -> Any:
    """A compared value as the evidence shows it: a bar as its UTC open time, numbers finite or None."""
    if name == "exit_bar":
        if not 0 <= value < len(bars.times):
            return None
        return pd.Timestamp(int(bars.times[int(value)]), unit="ns", tz="UTC").isoformat()
    return float(value) if np.isfinite(value) else None


def _record(
    replay: Replayed, trade: int, differs: tuple[str, ...], ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "playbook": replay.label,
        "trade_id": str(replay.inputs.trade_id[trade]),
        "differs": list(differs),
        "replay": ours,
        "vectorbt": theirs,
    }


def _not_expressible(
    inputs: ReplayInputs, bars: _SymbolBars, jobs: dict[str, np.ndarray], j: int, exit_bar: int, trade_return: float
) -> str | None:
    """Why trade ``j`` cannot be compared, judged on vectorbt's path up to its exit (None: it can)."""
    if exit_bar < 0:
        return None  # vectorbt did not close it: a disagreement, shown as such
    d = float(jobs["direction"][j])
    long = d > 0
    entry = float(jobs["entry_price"][j])
    path = slice(int(jobs["entry_bar"][j]) + 1, exit_bar + 1)
    stop = entry * (1.0 - d * float(jobs["stop_loss"][j]))
    liquidation = float(jobs["liquidation_price"][j])
    liquidation_first = d * (liquidation - stop) >= 0.0
    adverse = bars.lows[path] if long else bars.highs[path]
    if liquidation_first:
        if adverse.size and d * ((adverse.min() if long else adverse.max()) - liquidation) <= 0.0:
            return LIQUIDATION
    elif d * (bars.opens[exit_bar] - liquidation) <= 0.0:
        return LIQUIDATION
    if float(jobs["leverage"][j]) * trade_return < -1.0:
        return MARGIN_FLOOR
    start, stop_at = int(jobs["funding_start"][j]), int(jobs["funding_stop"][j])
    if stop_at > start:
        funding_times = inputs.calendar.funding_times[start:stop_at]
        until = int(bars.times[exit_bar]) + bars.timeframe_ns
        after_entry = np.searchsorted(funding_times, jobs["entry_ns"][j], "right")
        if np.searchsorted(funding_times, until, "right") > after_entry:
            return FUNDING
    if jobs["trailing"][j]:
        return _trailing_reason(bars, jobs, j, path, stop, liquidation if liquidation_first else stop)
    return None


def _trailing_reason(
    bars: _SymbolBars, jobs: dict[str, np.ndarray], j: int, path: slice, stop: float, floor: float
) -> str | None:
    d = float(jobs["direction"][j])
    long = d > 0
    entry = float(jobs["entry_price"][j])
    distance = float(jobs["stop_loss"][j])
    favourable = bars.highs[path] if long else bars.lows[path]
    adverse = bars.lows[path] if long else bars.highs[path]
    running = np.maximum.accumulate if long else np.minimum.accumulate
    best = running(np.concatenate([[entry], favourable]))
    best_before, best_after = best[:-1], best[1:]
    positive = float(jobs["trailing_positive"][j])
    fees = (1.0 + d * float(jobs["fee_open"][j])) / (1.0 - d * float(jobs["fee_close"][j]))
    moved = d * (best_after / (entry * fees) - 1.0)
    if np.isfinite(positive) and positive != distance and (moved > float(jobs["trailing_offset"][j])).any():
        return TRAILING_POSITIVE
    trailed = best_after * (1.0 - d * distance)
    new_best = d * (favourable - best_before) > 0.0
    fires = new_best & (d * (trailed - floor) > 0.0) & (d * (adverse - trailed) <= 0.0)
    return TRAILING_ORDER if fires.any() else None
