"""Trade features: hand-checked values, no look-ahead over trades or candles, market columns by bar close."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.errors import InputError
from framework.features import ENTRY_COLUMNS, OUTCOME_COLUMNS, build_features
from framework.market import Candles, GapReport, Market, load_market
from framework.regimes import REGIMES, RegimeParams, label_trades
from framework.sample import write_sample
from framework.trades import load_trades

T0 = pd.Timestamp("2026-03-02 00:00", tz="UTC")  # a Monday


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Market]:
    paths = write_sample(tmp_path_factory.mktemp("sample"), days=60)
    return load_trades(paths.trades).frame, load_market(paths.prices)


def trade(
    entry_h: float,
    exit_h: float,
    *,
    symbol: str = "AAA/USDT",
    strategy: str = "s1",
    side: str = "long",
    entry_price: float = 100.0,
    exit_price: float = 101.0,
    confidence: float = 0.5,
    **extra: object,
) -> dict[str, object]:
    return {
        "symbol": symbol,
        "side": side,
        "entry_time": T0 + pd.Timedelta(hours=entry_h),
        "exit_time": T0 + pd.Timedelta(hours=exit_h),
        "entry_price": entry_price,
        "exit_price": exit_price,
        "confidence": confidence,
        "strategy": strategy,
        **extra,
    }


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


# --- hand-made logs --------------------------------------------------------------------------------


def test_columns_dtypes_and_index_follow_the_trades() -> None:
    trades = frame(trade(0, 1), trade(2, 3)).set_axis(["b", "a"])
    features = build_features(trades)
    assert features.entry_columns == ENTRY_COLUMNS
    assert features.outcome_columns == OUTCOME_COLUMNS
    assert not set(ENTRY_COLUMNS) & set(OUTCOME_COLUMNS)
    assert list(features.frame.columns) == [*ENTRY_COLUMNS, *OUTCOME_COLUMNS]
    assert list(features.frame.index) == ["b", "a"]
    assert (features.frame.dtypes == np.float64).all()
    assert list(features.entry.columns) == list(ENTRY_COLUMNS)


def test_temporal_features_are_utc_hour_weekday_and_duration() -> None:
    features = build_features(frame(trade(25.5, 28.0))).frame.iloc[0]
    assert features["time_hour"] == 1  # Tuesday 01:30 UTC
    assert features["time_weekday"] == 1
    assert features["time_duration_h"] == 2.5


def test_outcome_return_uses_pnl_over_stake_else_levered_price_move() -> None:
    trades = frame(
        trade(0, 1, exit_price=102.0, leverage=3.0, pnl=50.0, stake=1000.0),
        trade(0, 1, exit_price=102.0, leverage=3.0),  # no pnl: 2 % move x 3
        trade(0, 1, side="short", exit_price=102.0, leverage=2.0, stake=500.0),  # stake without pnl
    )
    features = build_features(trades).frame
    np.testing.assert_allclose(features["outcome_return"], [0.05, 0.06, -0.04])
    np.testing.assert_allclose(features["outcome_efficiency"], [0.05 / 3, 0.02, -0.02])
    np.testing.assert_allclose(features["context_leverage"], [3.0, 3.0, 2.0])
    np.testing.assert_allclose(features["context_direction"], [1.0, 1.0, -1.0])
    assert np.isnan(features["context_stake"].iloc[1])


def test_performance_counts_only_trades_exited_strictly_before_entry_per_group() -> None:
    trades = frame(
        trade(0, 2, exit_price=110.0),  # +10 %, exits at 2
        trade(1, 4, exit_price=95.0),  # -5 %, exits at 4
        trade(2, 3),  # enters exactly when the first exits: it is not yet known
        trade(5, 6),  # both before it are known
        trade(5, 6, strategy="s2", symbol="BBB/USDT"),  # another strategy and symbol: none known
    )
    features = build_features(trades).frame
    np.testing.assert_array_equal(features["perf_strategy_count"], [0, 0, 0, 3, 0])
    assert features["perf_strategy_win_rate"].iloc[:3].isna().all()
    assert features["perf_strategy_win_rate"].iloc[3] == pytest.approx(2 / 3)
    assert features["perf_strategy_mean_return"].iloc[3] == pytest.approx((0.10 - 0.05 + 0.01) / 3)
    np.testing.assert_array_equal(features["perf_symbol_count"], [0, 0, 0, 3, 0])
    assert np.isnan(features["perf_symbol_mean_return"].iloc[4])


def test_confidence_rank_is_among_strictly_earlier_entries_with_ties_half() -> None:
    trades = frame(
        trade(0, 1, confidence=0.4),
        trade(1, 2, confidence=0.6),
        trade(1, 2, confidence=0.2),  # same entry time as the one before: neither sees the other
        trade(2, 3, confidence=0.4),
        trade(3, 4, confidence=0.9),
    )
    rank = build_features(trades).frame["risk_confidence_rank"].to_numpy()
    assert np.isnan(rank[0])
    np.testing.assert_allclose(rank[1:], [1.0, 0.0, (1 + 0.5) / 3, 1.0])


def test_risk_levels_give_target_rr_and_realised_r() -> None:
    trades = frame(
        trade(0, 1, exit_price=103.0, stop_loss=98.0, take_profit=106.0),
        trade(0, 1, side="short", exit_price=101.0, stop_loss=102.0, take_profit=96.0),
        trade(0, 1, exit_price=103.0),  # no levels logged
    )
    features = build_features(trades).frame
    np.testing.assert_allclose(features["risk_target_rr"], [3.0, 2.0, np.nan])
    np.testing.assert_allclose(features["risk_realised_r"], [1.5, -0.5, np.nan])


def test_forecast_accuracy_is_over_trades_exited_before_entry() -> None:
    trades = frame(
        trade(0, 1, exit_price=102.0, forecast_return=0.01),  # realised +2 %: error 0.01, hit
        trade(0, 2, exit_price=99.0, forecast_return=0.02),  # realised -1 %: error 0.03, miss
        trade(3, 4, forecast_return=np.nan),  # no forecast: not counted later
        trade(5, 6, forecast_return=0.005),
    )
    features = build_features(trades).frame
    assert features["forecast_prior_mae"].iloc[:2].isna().all()
    np.testing.assert_allclose(features["forecast_prior_mae"].iloc[2:], [0.02, 0.02])
    np.testing.assert_allclose(features["forecast_prior_hit_rate"].iloc[2:], [0.5, 0.5])
    np.testing.assert_allclose(features["forecast_return"], [0.01, 0.02, np.nan, 0.005])


def test_open_trade_has_no_outcome_and_never_counts_as_exited() -> None:
    trades = frame(trade(0, 1), trade(2, 3))
    trades.loc[0, "exit_time"] = pd.NaT
    features = build_features(trades).frame
    assert features.loc[0, ["time_duration_h", "outcome_return", "risk_realised_r"]].isna().all()
    assert features.loc[1, "perf_strategy_count"] == 0


def test_bad_frames_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="exit_price"):
        build_features(frame(trade(0, 1)).drop(columns="exit_price"))
    with pytest.raises(ValueError, match="'buy'"):
        build_features(frame(trade(0, 1, side="buy")))


def test_empty_log_gives_an_empty_frame_with_every_column() -> None:
    features = build_features(frame(trade(0, 1)).iloc[:0])
    assert features.frame.shape == (0, len(ENTRY_COLUMNS) + len(OUTCOME_COLUMNS))


# --- market features -------------------------------------------------------------------------------


def flat_market(ranges: np.ndarray) -> Market:
    """5-minute candles closing at 100 with the given high-low ranges (true range = range)."""
    index = pd.date_range(T0, periods=len(ranges), freq="5min", name="date").as_unit("ns")
    candles = pd.DataFrame(
        {"open": 100.0, "high": 100 + ranges / 2, "low": 100 - ranges / 2, "close": 100.0, "volume": 1.0},
        index=index,
    )
    gaps = GapReport(gaps=0, missing_bars=0, longest=pd.Timedelta(0))
    return Market(
        candles={"AAA/USDT": Candles("AAA/USDT", "5m", "spot", candles, Path("mem"), gaps)},
        funding={},
        source=Path("mem"),
    )


def test_atr_is_percent_of_close_from_the_last_closed_bar() -> None:
    ranges = np.where(np.arange(40) < 20, 1.0, 5.0)
    market = flat_market(ranges)
    minutes = 5 / 60
    trades = frame(
        trade(20 * minutes, 5),  # bar 20 opens: bar 19 (range 1) is the last closed one
        trade(20 * minutes + 1 / 60, 5),  # inside bar 20: still bar 19
        trade(21 * minutes, 5),  # bar 20 (the first of range 5) has closed
        trade(10 * minutes, 5),  # during the ATR's warm-up
        trade(24, 25),  # far past the candles' reach
    )
    features = build_features(trades, market).frame
    atr = features["market_atr_pct"].to_numpy()
    np.testing.assert_allclose(atr[:3], [1.0, 1.0, 1.0 + (5.0 - 1.0) / 14])
    assert np.isnan(atr[3]) and np.isnan(atr[4])


def test_without_candles_market_columns_are_nan() -> None:
    features = build_features(frame(trade(0, 1))).frame
    market = [c for c in features.columns if c.startswith("market_")]
    assert len(market) == 5
    assert features[market].isna().all().all()


def test_symbol_without_candles_is_an_input_error() -> None:
    with pytest.raises(InputError, match="ZZZ/USDT"):
        build_features(frame(trade(0, 1, symbol="ZZZ/USDT")), flat_market(np.ones(40)))


def test_regime_columns_match_label_trades(sample: tuple[pd.DataFrame, Market]) -> None:
    trades, market = sample
    features = build_features(trades, market).frame
    labelled = label_trades(trades.drop(columns="regime"), market)
    codes = {name: float(i) for i, name in enumerate(REGIMES)}
    entry = labelled["regime"].map(codes).astype("float64")
    exit_ = labelled["exit_regime"].map(codes).astype("float64")
    pd.testing.assert_series_equal(features["market_regime_code"], entry, check_names=False)
    changed = (entry != exit_).astype("float64").where(entry.notna() & exit_.notna())
    pd.testing.assert_series_equal(features["market_regime_changed"], changed, check_names=False)
    assert features["market_regime_code"].notna().mean() > 0.99
    assert (features["market_bars_in_regime"].dropna() >= 1).all()
    assert features["market_atr_rank"].dropna().between(0, 1).all()


def test_market_features_do_not_look_past_the_entry(sample: tuple[pd.DataFrame, Market]) -> None:
    trades, market = sample
    full = build_features(trades, market).frame
    for position in (40, 400, 900):
        row = trades.iloc[[position]]
        symbol = row["symbol"].iloc[0]
        candles = market.for_symbol(symbol)
        closes = candles.frame.index + pd.Timedelta(candles.timeframe)
        cut = candles.frame[closes <= row["entry_time"].iloc[0]]
        truncated = replace(market, candles={symbol: replace(candles, frame=cut)})
        market_columns = ["market_atr_pct", "market_atr_rank", "market_regime_code", "market_bars_in_regime"]
        alone = build_features(row, truncated).frame
        pd.testing.assert_frame_equal(alone[market_columns], full.iloc[[position]][market_columns])


def test_regime_params_reach_the_classifier(sample: tuple[pd.DataFrame, Market]) -> None:
    trades, market = sample
    default = build_features(trades, market).frame["market_regime_code"]
    stricter = build_features(trades, market, params=RegimeParams(adx_trend=60.0)).frame["market_regime_code"]
    assert (stricter != default).any()


# --- no leakage over trades ------------------------------------------------------------------------


def alter_after(trades: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """Every trade exiting after ``moment`` gets another outcome; those entering after it change entirely."""
    out = trades.copy()
    later_exit = out["exit_time"] > moment
    out.loc[later_exit, "exit_price"] = out.loc[later_exit, "exit_price"] * 1.07
    out.loc[later_exit, "pnl"] = -3.0 * out.loc[later_exit, "pnl"] + 1.0
    out.loc[later_exit, "exit_time"] = out.loc[later_exit, "exit_time"] + pd.Timedelta(days=1)
    later_entry = out["entry_time"] > moment
    out.loc[later_entry, "confidence"] = 1.0 - out.loc[later_entry, "confidence"]
    out.loc[later_entry, "forecast_return"] = -2.0 * out.loc[later_entry, "forecast_return"]
    out.loc[later_entry, "stake"] = 2.0 * out.loc[later_entry, "stake"]
    return out


@pytest.mark.parametrize("position", [30, 300, 700, 1100])
def test_entry_features_ignore_everything_not_yet_exited(sample: tuple[pd.DataFrame, Market], position: int) -> None:
    trades, market = sample
    entry = trades["entry_time"].iloc[position]
    original = build_features(trades, market)
    altered = build_features(alter_after(trades, entry), market)
    assert not np.allclose(original.frame["outcome_return"], altered.frame["outcome_return"])
    columns = list(original.entry_columns)
    pd.testing.assert_series_equal(altered.frame[columns].iloc[position], original.frame[columns].iloc[position])


def test_a_trade_exited_before_entry_does_change_the_performance_features(
    sample: tuple[pd.DataFrame, Market],
) -> None:
    trades, _ = sample
    position = 300
    same_symbol = trades["symbol"] == trades["symbol"].iloc[position]
    earlier = trades.index[same_symbol & (trades["exit_time"] < trades["entry_time"].iloc[position])][-1]
    altered = trades.copy()
    altered.loc[earlier, "pnl"] = altered.loc[earlier, "pnl"] + 500.0
    before = build_features(trades).frame.iloc[position]
    after = build_features(altered).frame.iloc[position]
    assert after["perf_symbol_mean_return"] > before["perf_symbol_mean_return"]
