"""The replay kernels' fast paths against straightforward ones: the block segment trees' first touch
against a scan, the grid search of the trade windows against a binary search, long markets (where the
trees have many levels) against the plain-Python reference, and the sweep's chunks, blocks, groups and
threads against one candidate at a time."""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.market import Candles, Market, gap_report
from framework.playbook import Playbook, parse_playbook
from framework.replay import kernels, prepare, replay, replay_candidates
from framework.trades import validate_trades
from tests.reference_replay import assert_same_outcomes, reference_replay

TICK = 0.5  # prices on a grid, so that bars reach levels exactly (ties)
STEP = pd.Timedelta(minutes=1)
ORIGIN = pd.Timestamp("2024-03-01", tz="UTC")


def test_first_touch_is_the_first_bar_a_scan_reaches() -> None:
    rng = np.random.default_rng(7)
    for n in [*range(0, 70), 255, 256, 257, 1000, 4099]:
        lows = np.round(rng.normal(100.0, 3.0, n) / TICK) * TICK
        highs = lows + np.round(rng.random(n) * 4.0 / TICK) * TICK
        low_tree, high_tree, size = kernels.build_trees(lows, highs)
        np.testing.assert_array_equal(low_tree[size : size + n], lows)
        np.testing.assert_array_equal(high_tree[size : size + n], highs)
        for _ in range(60):
            start, stop = np.sort(rng.integers(0, n + 1, 2))
            level = float(np.round(rng.normal(100.0, 5.0) / TICK) * TICK)
            for below, values, tree in ((True, lows, low_tree), (False, highs, high_tree)):
                window = values[start:stop]
                hits = np.flatnonzero(window <= level if below else window >= level)
                expected = start + hits[0] if hits.size else -1
                assert kernels.first_touch(tree, size, start, stop, level, below) == expected, (n, start, stop, level)


def test_trade_windows_are_the_binary_searches() -> None:
    rng = np.random.default_rng(11)
    step = STEP.value
    slots = np.sort(rng.choice(5000, 3000, replace=False))  # a grid with holes, some long
    times = ORIGIN.value + slots * step
    n = 500
    entry = ORIGIN.value + rng.integers(-10 * step, 5100 * step, n)
    entry[::7] = times[rng.integers(0, len(times), len(entry[::7]))]  # some on a bar's open
    logged_exit = entry + rng.integers(0, 400 * step, n)
    binds = rng.random(n) < 0.7
    seg_start, seg_stop = np.full(n, 100), np.full(n, 2900)  # a symbol inside the arrays
    first_bar, bar_bound = kernels.trade_windows(
        times, seg_start, seg_stop, np.full(n, step), entry, logged_exit, binds
    )
    segment = times[100:2900]
    expected_first = 100 + np.searchsorted(segment, entry)
    closed = 100 + np.searchsorted(segment, logged_exit - step, "right")
    np.testing.assert_array_equal(first_bar, expected_first)
    np.testing.assert_array_equal(bar_bound, np.where(binds, np.maximum(expected_first, closed), 2900))


def long_market(rng: np.random.Generator, symbol: str, bars: int) -> Candles:
    """A random walk on the tick grid with opening gaps now and then and some missing bars."""
    moves = np.round(rng.normal(0.0, 0.6, bars) / TICK) * TICK
    gaps = np.where(rng.random(bars) < 0.02, np.round(rng.normal(0.0, 3.0, bars) / TICK) * TICK, 0.0)
    close = 200.0 + np.cumsum(moves + gaps)
    open_ = np.concatenate([[200.0], close[:-1]]) + gaps
    high = np.maximum(open_, close) + np.round(rng.random(bars) * 1.5 / TICK) * TICK
    low = np.minimum(open_, close) - np.round(rng.random(bars) * 1.5 / TICK) * TICK
    keep = rng.random(bars) > 0.03
    index = pd.DatetimeIndex(ORIGIN + STEP * np.flatnonzero(keep), name="date").as_unit("ns")
    frame = pd.DataFrame(
        {"open": open_[keep], "high": high[keep], "low": low[keep], "close": close[keep], "volume": 1.0},
        index=index,
    )
    return Candles(symbol, "1m", "spot", frame, Path(f"<{symbol}>"), gap_report(index, STEP))


def long_trades(rng: np.random.Generator, market: Market, count: int) -> pd.DataFrame:
    rows = []
    for number in range(count):
        symbol = str(rng.choice(market.symbols()))
        frame = market.candles[symbol].frame
        bar = int(rng.integers(0, len(frame) - 1))
        entry_time = frame.index[bar] + pd.Timedelta(seconds=int(rng.choice([0, 0, 20])))
        rows.append(
            {
                "trade_id": f"t{number}",
                "symbol": symbol,
                "side": str(rng.choice(["long", "short"])),
                "entry_time": entry_time,
                "entry_price": float(frame["open"].iat[bar]),
                "exit_time": entry_time + STEP * int(rng.integers(1, 900)),
                "exit_price": float(frame["close"].iat[bar]),
                "confidence": float(rng.random()),
                "regime": None,
                "strategy": str(rng.choice(["default", "momentum"])),
                "exit_reason": str(rng.choice(["signal", "stop_loss", "roi", "time", "other"])),
            }
        )
    return validate_trades(pd.DataFrame(rows), source="<long trades>").frame


PLAYBOOKS = (
    "default:\n  leverage: 3\n  stop_loss: 0.02\n  risk_reward_ratio: 2\n  max_hold:\n",
    "default:\n  leverage: 20\n  stop_loss: 0.04\n  risk_reward_ratio:\n  max_hold: 300m\n"
    "  confidence_threshold: 0.3\n",
    "default:\n  leverage: 2\n  stop_loss: 0.015\n  risk_reward_ratio: 3\n  max_hold:\n"
    "  minimal_roi:\n    0: 0.03\n    30: 0.01\n    120: 0.0\n    400: -1\n",
    "default:\n  leverage: 5\n  stop_loss: 0.01\n  risk_reward_ratio: 4\n  max_hold: 10h\n"
    "  trailing_stop: true\n  trailing_stop_positive: 0.005\n  trailing_stop_positive_offset: 0.01\n"
    "  minimal_roi:\n    0: 0.05\n    60: 0.02\n",
    "default:\n  leverage: 1\n  stop_loss: 0.03\n  risk_reward_ratio: 1\n  max_hold:\n  trailing_stop: true\n",
)


def playbook(text: str) -> Playbook:
    block = text.replace("default:\n", "default:\n  position_size: 0.2\n", 1)
    if "confidence_threshold" not in block:
        block = block.replace("default:\n", "default:\n  confidence_threshold: 0\n", 1)
    return parse_playbook("bounds:\n  leverage: [1, 50]\n" + block, "<long playbook>")


@pytest.fixture(scope="module")
def long_case() -> tuple[pd.DataFrame, Market]:
    rng = np.random.default_rng(3)
    candles = {symbol: long_market(rng, symbol, bars) for symbol, bars in (("BTC/USDT", 2500), ("ETH/USDT", 1800))}
    market = Market(candles=candles, funding={}, source=Path("<long>"))
    return long_trades(rng, market, 40), market


@pytest.mark.parametrize("text", PLAYBOOKS, ids=["stop and target", "no target", "roi", "trailing and roi", "trailing"])
def test_long_markets_replay_as_the_reference(long_case: tuple[pd.DataFrame, Market], text: str) -> None:
    trades, market = long_case
    settings = ReplaySettings(fee=0.001, funding=False)
    got = replay(trades, market, playbook(text), settings)
    expected = reference_replay(trades, market, playbook(text), settings)
    assert_same_outcomes(got, expected, trades)
    at_a_level = got["exit_reason"].isin(["stop_loss", "take_profit", "roi", "liquidation"])
    assert at_a_level.sum() >= 10  # found by the first-touch searches, not at the data's end


def test_a_sweep_in_chunks_blocks_groups_and_threads_is_each_candidate_alone(
    long_case: tuple[pd.DataFrame, Market], monkeypatch: pytest.MonkeyPatch
) -> None:
    trades, market = long_case
    rng = np.random.default_rng(5)
    many = pd.concat(
        [trades.assign(trade_id=trades["trade_id"] + f"-{copy}") for copy in range(5)], ignore_index=True
    )  # 200 trades: several chunks of the exit search
    settings = ReplaySettings(fee=0.0005)
    inputs = prepare(many, market, settings)
    bases = [playbook(text) for text in PLAYBOOKS]
    candidates = [bases[int(rng.integers(len(bases)))] for _ in range(2 * kernels.CANDIDATE_BLOCK + 5)]

    def outcomes(playbooks: list[Playbook]) -> list[np.ndarray]:
        """Metrics, per-trade outcomes and daily equity, one row per candidate each."""
        result = replay_candidates(inputs, playbooks, settings, per_trade=True, equity=True)
        assert result.per_trade is not None and result.equity is not None
        return [result.metrics.to_numpy(), *result.per_trade.values(), result.equity.to_numpy().T]

    whole = outcomes(candidates)
    numba.set_num_threads(1)
    try:
        one_thread = outcomes(candidates)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr(kernels, "SWEEP_PAIRS", 3 * len(many))  # groups of three candidates
    grouped = outcomes(candidates)
    for k, candidate in enumerate(candidates):
        alone = outcomes([candidate])
        for j, want in enumerate(whole):
            for have in (one_thread[j][k], grouped[j][k], alone[j][0]):
                np.testing.assert_array_equal(have, want[k])
