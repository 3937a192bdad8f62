"""Excursions from the candles (framework.trades.excursions) against the straightforward per-trade loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.market import Market, load_market, write_candles
from framework.sample import generate_candles
from framework.trades.excursions import excursions


def _loop_excursions(trades: pd.DataFrame, market: Market) -> tuple[np.ndarray, np.ndarray]:
    """Each trade on its own: the log's rates, else its symbol's bars within [entry, exit] by label."""
    adverse, favourable = [], []
    for _, row in trades.iterrows():
        low, high = row["min_rate"], row["max_rate"]
        if not (np.isfinite(low) and np.isfinite(high)):
            low = high = np.nan
            if row["symbol"] in market.candles:
                bars = market.candles[row["symbol"]].frame.loc[row["entry_time"] : row["exit_time"]]
                if not bars.empty:
                    low, high = bars["low"].min(), bars["high"].max()
        entry = row["entry_price"]
        if row["side"] == "long":
            adverse.append((entry - low) / entry)
            favourable.append((high - entry) / entry)
        else:
            adverse.append((high - entry) / entry)
            favourable.append((entry - low) / entry)
    return np.array(adverse), np.array(favourable)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    folder: Path = tmp_path_factory.mktemp("prices")
    rng = np.random.default_rng(3)
    for symbol in ("AAA/USDT", "BBB/USDT"):
        frame, _ = generate_candles(rng, 2_000, structure=True)
        frame = frame.drop(frame.index[500:540])  # a gap: some trades hold across it, some inside it
        write_candles(frame, folder, symbol, "5m")
    return load_market(folder)


def _trades(market: Market, count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = market.candles["AAA/USDT"].frame.index[0]
    entry = start + pd.to_timedelta(rng.integers(-50, 2_100, size=count) * 5, unit="min")
    entry += pd.to_timedelta(rng.integers(0, 2, size=count) * 150, unit="s")  # some between bar opens
    exit_ = entry + pd.to_timedelta(rng.integers(0, 300, size=count), unit="min")
    known = rng.random(count) < 0.2
    return pd.DataFrame(
        {
            "symbol": rng.choice(["AAA/USDT", "BBB/USDT", "NOPE/USDT"], size=count, p=[0.45, 0.45, 0.1]),
            "side": rng.choice(["long", "short"], size=count),
            "entry_time": entry,
            "exit_time": exit_,
            "entry_price": rng.uniform(20.0, 200.0, size=count),
            "min_rate": np.where(known, rng.uniform(10.0, 20.0, size=count), np.nan),
            "max_rate": np.where(known, rng.uniform(200.0, 300.0, size=count), np.nan),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_excursions_equal_the_per_trade_loop(market: Market, seed: int) -> None:
    trades = _trades(market, 400, seed)
    adverse, favourable = excursions(trades, market)
    expected_adverse, expected_favourable = _loop_excursions(trades, market)
    np.testing.assert_array_equal(adverse, expected_adverse)
    np.testing.assert_array_equal(favourable, expected_favourable)
    assert np.isnan(adverse).any() and np.isfinite(adverse).sum() > 300  # both cases are exercised


def test_a_trade_whose_bars_all_lie_in_a_gap_has_no_excursion(market: Market) -> None:
    index = market.candles["AAA/USDT"].frame.index
    inside_gap = index[499] + pd.Timedelta("10min")
    trades = pd.DataFrame(
        {
            "symbol": ["AAA/USDT"],
            "side": ["long"],
            "entry_time": [inside_gap],
            "exit_time": [inside_gap + pd.Timedelta("30min")],
            "entry_price": [100.0],
            "min_rate": [np.nan],
            "max_rate": [np.nan],
        }
    )
    adverse, favourable = excursions(trades, market)
    assert np.isnan(adverse[0]) and np.isnan(favourable[0])
