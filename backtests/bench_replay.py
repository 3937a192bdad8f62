"""Benchmark: our replay sweep against vectorbt's `Portfolio.from_signals` on the same grid.

Prints ONE JSON object on stdout. Run from the repository root: ``.venv/bin/python backtests/bench_replay.py``
(a few minutes: seven vectorbt calls of seconds each, and a cold compile; several GB of memory, nearly
all of it vectorbt's).

Setup: 500,000 synthetic 1-minute bars of one symbol (a seeded random walk; each bar opens at the previous
close, so no bar gaps past a level), 2,000 non-overlapping long and short trades with logged `signal`
exits, and 100 candidates = 5 stop_loss x 5 risk_reward_ratio x 4 leverage. Stops stay inside the
liquidation distance at every leverage, so vectorbt (which has no leverage) can express every candidate:
leverage L is emulated by percent-of-cash sizing L x position_size x (1 + fee), as
tests/test_replay_vectorbt.py explains and checks on real data.

Both engines are called once on a small slice first (``warmup_bars``) so that the timings exclude numba
compilation; ``compile_s_ours`` is that first call of ours (numba's on-disk cache may already hold the
kernels, so it is not guaranteed to be a cold compile). Then ``WARMUP_ROUNDS`` untimed rounds at full
size and ``REPEATS`` timed rounds, each one call of vectorbt and, of ours, one call on one thread and
one on every core; every figure is the median over the timed rounds, so a change of the machine's load
hits both engines alike.

- ``speedup_same_cores`` = ``vectorbt_s`` / ``ours_same_cores_s``, core for core: our whole job
  (``prepare``, the candidate tables and the sweep) on one thread (``numba.set_num_threads(1)``) against
  vectorbt, which runs on one. ``phases_s`` splits it: ``prepare``, ``tables`` (the candidates' kernel
  records), ``exits`` (every trade's exit under every candidate) and ``portfolio`` (the compounding
  portfolio, daily equity and metrics of every candidate), each timed alone on one thread.
- ``speedup`` (as before): ``vectorbt_s`` / ``ours_s``, ``ours_s`` being the sweep alone (tables and
  kernels, no ``prepare``) on every core; ``prepare_s`` is ``prepare`` on every core.
- ``memory_floor_s``: one numpy pass over the bars' five arrays (open times, open, high, low, close:
  ``memory_floor_bytes``), what any replay must read at least once; ``span_scan_s``: a numpy pass over
  the lows and highs of every trade's bars once per candidate, what a bar-by-bar scan of each candidate
  would read (from cache, mostly). ``distance_to_floor`` says where the time beyond the floor goes.

Every timed call of ours must give the metrics of the first, bit for bit (one thread or all), and our
total return must match vectorbt's within ``TOLERANCE`` on every candidate: otherwise the benchmark
fails instead of printing. ``ours_peak_rss_mb`` is the process's peak RSS after our part, before
vectorbt runs; ``peak_rss_mb`` is the peak of the whole run.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.config import ReplaySettings
from framework.market import Candles, Market, gap_report
from framework.playbook import ParameterChange, Playbook, parse_playbook
from framework.replay import candidate_tables, kernels, prepare, replay_candidates
from framework.replay.kernels import METRIC_NAMES
from framework.replay.vectorbt_reference import signal_portfolio
from framework.trades import validate_trades

BARS = 500_000
TRADES = 2_000
WARMUP_BARS = 5_000
SEED = 20260101
SYMBOL = "SYN/USDT"
TIMEFRAME = "1m"
STEP = pd.Timedelta(minutes=1)
FEE = 0.0005
INITIAL_EQUITY = 10_000.0
BAR_VOLATILITY = 0.001  # standard deviation of a bar's log return
STOP_LOSSES = (0.002, 0.005, 0.01, 0.02, 0.04)
RISK_REWARDS = (0.5, 1.0, 1.5, 2.0, 3.0)
LEVERAGES = (1.0, 2.0, 5.0, 10.0)  # liquidation at 1/10 - 0.005 = 9.5 %, beyond the widest stop
POSITION_SIZE = 0.09  # 10 x 0.09 x (1 + fee) <= 1, as percent-of-cash sizing in vectorbt needs
GRID = tuple(itertools.product(LEVERAGES, STOP_LOSSES, RISK_REWARDS))
COLD_COMPILE_FLAG = "--warmup-only"
REPEATS = 7
WARMUP_ROUNDS = 1  # untimed full-size rounds: the first rounds of a process ran up to a third slower
TOLERANCE = 1e-9  # on total return; floating-point order alone gives ~1e-13

BASE_PLAYBOOK = f"""\
default:
  leverage: 1
  stop_loss: 0.01
  risk_reward_ratio: 2
  confidence_threshold: 0
  position_size: {POSITION_SIZE}
  max_hold:
"""


def synthetic_candles(rng: np.random.Generator, bars: int) -> Candles:
    """A positive random walk; each bar opens at the previous close, its extremes a little beyond."""
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, BAR_VOLATILITY, bars)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, BAR_VOLATILITY / 2, (2, bars)))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wick[0]),
            "low": np.minimum(open_, close) * np.exp(-wick[1]),
            "close": close,
            "volume": np.ones(bars),
        },
        index=pd.date_range("2024-01-01", periods=bars, freq=STEP, tz="UTC", name="date", unit="ns"),
    )
    return Candles(
        symbol=SYMBOL,
        timeframe=TIMEFRAME,
        candle_type="spot",
        frame=frame,
        source=Path("<synthetic>"),
        gaps=gap_report(frame.index, STEP),
    )


def signal_trades(rng: np.random.Generator, candles: Candles, count: int) -> dict[str, np.ndarray]:
    """``count`` non-overlapping trades: one per equal slot of bars, entry and exit signal bars, sides."""
    slot = len(candles.frame) // count
    starts = np.arange(count) * slot
    entry_bar = starts + rng.integers(0, slot // 5, count)
    exit_bar = entry_bar + rng.integers(1, slot - slot // 5, count)
    return {"entry_bar": entry_bar, "exit_bar": exit_bar, "short": rng.random(count) < 0.5}


def trade_log(candles: Candles, signals: dict[str, np.ndarray]) -> pd.DataFrame:
    """Our trade log of the signals: entry at close[entry_bar], logged signal exit at close[exit_bar]."""
    frame = candles.frame
    entry_bar, exit_bar = signals["entry_bar"], signals["exit_bar"]
    raw = pd.DataFrame(
        {
            "trade_id": [f"t{i}" for i in range(len(entry_bar))],
            "symbol": SYMBOL,
            "side": np.where(signals["short"], "short", "long"),
            "entry_time": frame.index[entry_bar] + STEP,
            "entry_price": frame["close"].to_numpy()[entry_bar],
            "exit_time": frame.index[exit_bar] + STEP,
            "exit_price": frame["close"].to_numpy()[exit_bar],
            "confidence": 1.0,
            "exit_reason": "signal",
        }
    )
    return validate_trades(raw, source="synthetic trades").frame


def candidates() -> list[Playbook]:
    base = parse_playbook(BASE_PLAYBOOK, source="benchmark playbook")
    return [
        base.with_changes(
            [
                ParameterChange("default", "leverage", leverage),
                ParameterChange("default", "stop_loss", stop_loss),
                ParameterChange("default", "risk_reward_ratio", risk_reward),
            ]
        )
        for leverage, stop_loss, risk_reward in GRID
    ]


def our_market(candles: Candles) -> Market:
    return Market(candles={SYMBOL: candles}, funding={}, source=candles.source)


def run_ours(
    candles: Candles, signals: dict[str, np.ndarray], playbooks: list[Playbook], settings: ReplaySettings
) -> tuple[pd.DataFrame, float, float]:
    """Metrics of every candidate, prepare time and sweep time (seconds)."""
    market = our_market(candles)
    trades = trade_log(candles, signals)
    started = time.perf_counter()
    inputs = prepare(trades, market, settings)
    prepared = time.perf_counter()
    result = replay_candidates(inputs, playbooks, settings, initial_equity=INITIAL_EQUITY, per_trade=False)
    finished = time.perf_counter()
    return result.metrics, prepared - started, finished - prepared


def phase_seconds(
    trades: pd.DataFrame, market: Market, playbooks: list[Playbook], settings: ReplaySettings
) -> dict[str, float]:
    """Each phase of our job timed alone, in the current thread setting: prepare, tables, exits, portfolio."""
    started = time.perf_counter()
    inputs = prepare(trades, market, settings)
    prepared = time.perf_counter()
    tables = candidate_tables(inputs, playbooks)
    tabled = time.perf_counter()
    k, n = len(tables), len(inputs.trade_id)
    outcomes = kernels.Outcomes(
        taken=np.empty((k, n), dtype=np.bool_),
        exit_ns=np.empty((k, n), dtype=np.int64),
        exit_price=np.empty((0, n)),
        reason=np.empty((k, n), dtype=np.int8),
        returns=np.empty((k, n)),
        margin=np.empty((0, n)),
        equity=np.empty((0, len(inputs.calendar.day_ends))),
    )
    costs = kernels.Costs(settings.maintenance_margin_rate, settings.fee, INITIAL_EQUITY)
    records = (inputs.bars, inputs.paths, inputs.book, inputs.calendar)
    begun = time.perf_counter()
    kernels.exit_outcomes(*records, tables.parameters, costs, outcomes)
    exited = time.perf_counter()
    kernels.candidate_metrics(*records[1:], tables.parameters, tables.weights, costs, outcomes)
    finished = time.perf_counter()
    return {
        "prepare": prepared - started,
        "tables": tabled - prepared,
        "exits": exited - begun,
        "portfolio": finished - exited,
    }


def floor_seconds(trades: pd.DataFrame, market: Market, settings: ReplaySettings, candidates: int) -> dict[str, float]:
    """Numpy passes over what the job must read: the bars' five arrays once, and (a scan's reading) the
    lows and highs of every trade's bars once per candidate."""
    inputs = prepare(trades, market, settings)
    bars, paths = inputs.bars, inputs.paths
    lows, highs = bars.low_tree[bars.size :], bars.high_tree[bars.size :]
    spanned = np.concatenate([np.arange(a, b) for a, b in zip(paths.first_bar, paths.bar_bound, strict=True)])
    span_lows, span_highs = lows[spanned], highs[spanned]
    started = time.perf_counter()
    for values in (bars.times, bars.opens, highs, lows, bars.closes):
        values.sum()
    passed = time.perf_counter()
    for _ in range(candidates):
        span_lows.min()
        span_highs.max()
    scanned = time.perf_counter()
    return {"memory_floor": passed - started, "span_scan": scanned - passed, "spanned_bars": float(len(spanned))}


def run_vectorbt(candles: Candles, signals: dict[str, np.ndarray]) -> np.ndarray:
    """vectorbt's total return per GRID column."""
    portfolio = signal_portfolio(
        candles.frame,
        signals["entry_bar"],
        signals["exit_bar"],
        signals["short"],
        pd.MultiIndex.from_tuples(GRID, names=["leverage", "stop_loss", "risk_reward"]),
        np.full(len(GRID), POSITION_SIZE),
        FEE,
        INITIAL_EQUITY,
        STEP,
    )
    return portfolio.total_return().to_numpy()


def warmup_slice(candles: Candles, signals: dict[str, np.ndarray]) -> tuple[Candles, dict[str, np.ndarray]]:
    """The first WARMUP_BARS bars and the trades that lie inside them."""
    inside = signals["exit_bar"] < WARMUP_BARS
    frame = candles.frame.iloc[:WARMUP_BARS]
    small = Candles(
        symbol=SYMBOL,
        timeframe=TIMEFRAME,
        candle_type="spot",
        frame=frame,
        source=candles.source,
        gaps=gap_report(frame.index, STEP),
    )
    return small, {name: values[inside] for name, values in signals.items()}


def cold_compile_seconds() -> float:
    """Our warm-up call in a fresh process whose numba cache starts empty: the first-use compile time."""
    with tempfile.TemporaryDirectory() as cache:
        completed = subprocess.run(
            [sys.executable, __file__, COLD_COMPILE_FLAG],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NUMBA_CACHE_DIR": cache},
        )
    return float(completed.stdout)


def warmup_seconds() -> float:
    """Time of our replay on the warm-up slice (in a fresh process: compile included)."""
    rng = np.random.default_rng(SEED)
    candles = synthetic_candles(rng, WARMUP_BARS * 2)
    small_candles, small_signals = warmup_slice(candles, signal_trades(rng, candles, 20))
    started = time.perf_counter()
    run_ours(small_candles, small_signals, candidates(), ReplaySettings(fee=FEE, funding=False))
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    candles = synthetic_candles(rng, BARS)
    signals = signal_trades(rng, candles, TRADES)
    playbooks = candidates()
    settings = ReplaySettings(fee=FEE, funding=False)
    small_candles, small_signals = warmup_slice(candles, signals)
    market, trades = our_market(candles), trade_log(candles, signals)
    all_threads = numba.config.NUMBA_NUM_THREADS

    started = time.perf_counter()
    run_ours(small_candles, small_signals, playbooks, settings)
    compile_s_ours = time.perf_counter() - started
    started = time.perf_counter()
    run_vectorbt(small_candles, small_signals)
    compile_s_vectorbt = time.perf_counter() - started

    def our_job() -> np.ndarray:
        inputs = prepare(trades, market, settings)
        return replay_candidates(inputs, playbooks, settings, initial_equity=INITIAL_EQUITY).metrics.to_numpy()

    reference = our_job()
    rounds: dict[str, list[float]] = {}
    vbt_total_return = np.empty(0)
    for _ in range(WARMUP_ROUNDS + REPEATS):
        started = time.perf_counter()
        vbt_total_return = run_vectorbt(candles, signals)
        rounds.setdefault("vectorbt", []).append(time.perf_counter() - started)
        numba.set_num_threads(1)
        started = time.perf_counter()
        same_cores = our_job()
        rounds.setdefault("same_cores", []).append(time.perf_counter() - started)
        for phase, seconds in phase_seconds(trades, market, playbooks, settings).items():
            rounds.setdefault(phase, []).append(seconds)
        for phase, seconds in floor_seconds(trades, market, settings, len(playbooks)).items():
            rounds.setdefault(phase, []).append(seconds)
        numba.set_num_threads(all_threads)
        metrics, prepare_s, ours_s = run_ours(candles, signals, playbooks, settings)
        rounds.setdefault("prepare_all_cores", []).append(prepare_s)
        rounds.setdefault("sweep_all_cores", []).append(ours_s)
        for got, how in ((same_cores, "on one thread"), (metrics.to_numpy(), "on every core")):
            if not np.array_equal(got, reference, equal_nan=True):
                raise SystemExit(f"bench_replay: our metrics {how} differ from our first call's")
    ours_peak = peak_rss_mb()

    median = {name: float(np.median(values[WARMUP_ROUNDS:])) for name, values in rounds.items()}
    ours_total_return = reference[:, METRIC_NAMES.index("total_return")]
    difference = np.abs(ours_total_return - vbt_total_return)
    if not difference.max() <= TOLERANCE:
        worst = int(difference.argmax())
        raise SystemExit(
            f"bench_replay: total return of candidate {GRID[worst]} differs from vectorbt's by {difference[worst]:.3g}"
        )
    vectorbt_s, ours_s, same_cores_s = median["vectorbt"], median["sweep_all_cores"], median["same_cores"]
    phases = {name: round(median[name], 5) for name in ("prepare", "tables", "exits", "portfolio")}
    pairs = TRADES * len(GRID)
    return {
        "ours_s": round(ours_s, 4),
        "vectorbt_s": round(vectorbt_s, 3),
        "speedup": round(vectorbt_s / ours_s, 1),
        "ours_same_cores_s": round(same_cores_s, 4),
        "speedup_same_cores": round(vectorbt_s / same_cores_s, 1),
        "phases_s": phases,
        "memory_floor_s": round(median["memory_floor"], 5),
        "memory_floor_bytes": BARS * 5 * 8,
        "span_scan_s": round(median["span_scan"], 5),
        "spanned_bars": int(median["spanned_bars"]),
        "distance_to_floor": {
            "beyond_floor_s": round(same_cores_s - median["memory_floor"], 5),
            "exit_ns_per_trade_candidate": round(median["exits"] / pairs * 1e9, 1),
            "portfolio_us_per_candidate": round(median["portfolio"] / len(GRID) * 1e6, 1),
            "tables_us_per_candidate": round(median["tables"] / len(GRID) * 1e6, 1),
            "prepare_beyond_floor_s": round(median["prepare"] - median["memory_floor"], 5),
            "wrapping_s": round(same_cores_s - sum(median[name] for name in phases), 5),
        },
        "bar_candidates_per_s": round(BARS * len(GRID) / ours_s),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ours_peak_rss_mb": round(ours_peak, 1),
        "max_abs_diff": float(difference.max()),
        "cores": os.cpu_count(),
        "threads_all_cores": all_threads,
        "repeats": REPEATS,
        "prepare_s": round(median["prepare_all_cores"], 4),
        "compile_s_ours": round(compile_s_ours, 3),
        "cold_compile_s_ours": round(cold_compile_seconds(), 3),
        "compile_s_vectorbt": round(compile_s_vectorbt, 3),
        "bars": BARS,
        "trades": TRADES,
        "candidates": len(GRID),
        "warmup_bars": WARMUP_BARS,
        "warmup_rounds": WARMUP_ROUNDS,
        "liquidations": int(reference[:, METRIC_NAMES.index("liquidations")].sum()),
        "mean_trades_taken": float(reference[:, METRIC_NAMES.index("trades_taken")].mean()),
        "notes": "medians of `repeats` rounds after one warm-up call of each engine on the first warmup_bars "
        "bars and `warmup_rounds` untimed full rounds; compile_s_* are those warm-up calls (numba's disk "
        "cache may be warm); cold_compile_s_ours is the same warm-up in a fresh process with an empty numba "
        "cache; vectorbt_s = from_signals + "
        "total_return(); max_abs_diff compares the total return of every candidate. distance_to_floor: the "
        "floor is reading the bars once; beyond it, prepare writes the segment trees (the bars' lows and highs "
        "again) and reads the trade log through pandas, exits cost a fixed amount per trade and candidate "
        "(levels, two first-touch searches: binary searches in the trade's running extremes, which a block of "
        "candidates shares, or a repeat of the last search of the same level; the outcome written), "
        "portfolio a fixed amount per candidate (sizing every trade, "
        "marking open trades at day ends, the metrics), tables the Python building of each candidate's record",
    }


if __name__ == "__main__":
    print(warmup_seconds() if COLD_COMPILE_FLAG in sys.argv else json.dumps(main()))
