"""Benchmark: our replay sweep against vectorbt's `Portfolio.from_signals` on the same grid.

Prints ONE JSON object on stdout. Run from the repository root: ``.venv/bin/python backtests/bench_replay.py``
(about a minute and several GB of memory, nearly all of it vectorbt's).

Setup: 500,000 synthetic 1-minute bars of one symbol (a seeded random walk; each bar opens at the previous
close, so no bar gaps past a level), 2,000 non-overlapping long and short trades with logged `signal`
exits, and 100 candidates = 5 stop_loss x 5 risk_reward_ratio x 4 leverage. Stops stay inside the
liquidation distance at every leverage, so vectorbt (which has no leverage) can express every candidate:
leverage L is emulated by percent-of-cash sizing L x position_size x (1 + fee), as
tests/test_replay_vectorbt.py explains and checks on real data.

Both engines are called once on a small slice first (``warmup_bars``) so that the timings exclude numba
compilation; ``compile_s_ours`` is that first call of ours (numba's on-disk cache may already hold the
kernels, so it is not guaranteed to be a cold compile). ``prepare_s`` is our one-off preparation, timed
apart from ``ours_s``. ``ours_peak_rss_mb`` is the process's peak RSS after our part, before vectorbt
runs; ``peak_rss_mb`` is the peak of the whole run.
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

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.config import ReplaySettings
from framework.market import Candles, Market, gap_report
from framework.playbook import ParameterChange, Playbook, parse_playbook
from framework.replay import prepare, replay_candidates
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
        index=pd.date_range("2024-01-01", periods=bars, freq=STEP, tz="UTC", name="date"),
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


def run_ours(
    candles: Candles, signals: dict[str, np.ndarray], playbooks: list[Playbook], settings: ReplaySettings
) -> tuple[pd.DataFrame, float, float]:
    """Metrics of every candidate, prepare time and sweep time (seconds)."""
    market = Market(candles={SYMBOL: candles}, funding={}, source=candles.source)
    trades = trade_log(candles, signals)
    started = time.perf_counter()
    inputs = prepare(trades, market, settings)
    prepared = time.perf_counter()
    result = replay_candidates(inputs, playbooks, settings, initial_equity=INITIAL_EQUITY, per_trade=False)
    finished = time.perf_counter()
    return result.metrics, prepared - started, finished - prepared


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

    started = time.perf_counter()
    run_ours(small_candles, small_signals, playbooks, settings)
    compile_s_ours = time.perf_counter() - started
    ours_metrics, prepare_s, ours_s = run_ours(candles, signals, playbooks, settings)
    ours_peak = peak_rss_mb()

    started = time.perf_counter()
    run_vectorbt(small_candles, small_signals)
    compile_s_vectorbt = time.perf_counter() - started
    started = time.perf_counter()
    vbt_total_return = run_vectorbt(candles, signals)
    vectorbt_s = time.perf_counter() - started

    difference = np.abs(ours_metrics["total_return"].to_numpy() - vbt_total_return)
    return {
        "ours_s": round(ours_s, 4),
        "vectorbt_s": round(vectorbt_s, 3),
        "speedup": round(vectorbt_s / ours_s, 1),
        "bar_candidates_per_s": round(BARS * len(GRID) / ours_s),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ours_peak_rss_mb": round(ours_peak, 1),
        "max_abs_diff": float(difference.max()),
        "cores": os.cpu_count(),
        "prepare_s": round(prepare_s, 4),
        "compile_s_ours": round(compile_s_ours, 3),
        "cold_compile_s_ours": round(cold_compile_seconds(), 3),
        "compile_s_vectorbt": round(compile_s_vectorbt, 3),
        "bars": BARS,
        "trades": TRADES,
        "candidates": len(GRID),
        "warmup_bars": WARMUP_BARS,
        "liquidations": int(ours_metrics["liquidations"].sum()),
        "mean_trades_taken": float(ours_metrics["trades_taken"].mean()),
        "notes": "timings after one warm-up call of each engine on the first warmup_bars bars; "
        "compile_s_* are those warm-up calls (numba's disk cache may be warm); cold_compile_s_ours is the "
        "same warm-up in a fresh process with an empty numba cache; vectorbt_s = from_signals + "
        "total_return(); max_abs_diff compares the total return of every candidate",
    }


if __name__ == "__main__":
    print(warmup_seconds() if COLD_COMPILE_FLAG in sys.argv else json.dumps(main()))
