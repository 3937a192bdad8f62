"""The regime classifier: no look-ahead on real data, sensible labels on synthetic markets,
regime_at's use of bar closes, label_trades and summarize."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.errors import InputError
from framework.market import Candles, Market, gap_report, load_candles, load_market
from framework.regimes import REGIMES, RegimeParams, classify, label_trades, regime_at, summarize

NO_LOOKAHEAD_FILES = (
    "ETH_BTC-5m.feather",
    "UNITTEST_BTC-1m.feather",
    "orderflow/candles.json",
    "ADA_BTC-5m.feather",
)


def synthetic(close: np.ndarray, *, seed: int = 1, spread: float = 0.001) -> pd.DataFrame:
    """Candles around a close path: open = previous close, wicks up to ``spread`` (fraction) beyond."""
    rng = np.random.default_rng(seed)
    bars = len(close)
    index = pd.date_range("2024-01-01", periods=bars, freq="5min", tz="UTC", name="date").as_unit("ns")
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + spread * rng.random(bars))
    low = np.minimum(open_, close) * (1 - spread * rng.random(bars))
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index)


def trend(drift: float, bars: int = 2000, seed: int = 2) -> pd.DataFrame:
    """A log-price random walk with ``drift`` per bar and 0.2 % noise."""
    steps = drift + 0.002 * np.random.default_rng(seed).standard_normal(bars)
    return synthetic(100 * np.exp(np.cumsum(steps)), seed=seed)


def flat(bars: int = 2000, seed: int = 3, burst: slice | None = None) -> pd.DataFrame:
    """White noise around 100 (no trend); ``burst`` bars get six times the noise."""
    noise = 0.002 * np.random.default_rng(seed).standard_normal(bars)
    if burst is not None:
        noise[burst] *= 6
    return synthetic(100 * (1 + noise), seed=seed)


def shares(labels: pd.Series) -> dict[str, float]:
    return summarize(labels).share


# --- the key property: no look-ahead ---------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("name", NO_LOOKAHEAD_FILES)
def test_prefix_gets_exactly_the_prefix_of_the_labels(freqtrade_data: Path, name: str) -> None:
    frame = load_candles(freqtrade_data / name).frame
    full = classify(frame)
    warmup = RegimeParams().warmup_bars
    cuts = np.unique(
        np.concatenate((np.linspace(0, len(frame) - 1, 60).astype(int), [warmup - 1, warmup, warmup + 1, warmup + 5]))
    )
    assert len(cuts) >= 50
    for cut in cuts:
        prefix = classify(frame.iloc[: cut + 1])
        assert prefix.equals(full.iloc[: cut + 1]), f"labels of the first {cut + 1} bars change with later bars"
    assert full.iloc[warmup:].notna().all()


def test_prefix_property_with_other_params() -> None:
    frame = trend(0.0005, bars=800)
    params = RegimeParams(
        ema_span=20,
        slope_bars=3,
        adx_period=7,
        atr_period=5,
        vol_window=60,
        vol_min_periods=30,
        confirm_bars=1,
    )
    full = classify(frame, params)
    for cut in range(params.warmup_bars - 2, len(frame), 37):
        assert classify(frame.iloc[: cut + 1], params).equals(full.iloc[: cut + 1])


def test_changing_a_future_bar_leaves_past_labels_alone() -> None:
    frame = flat()
    shocked = frame.copy()
    shocked.iloc[1500:, :4] *= 1.5
    before, after = classify(frame), classify(shocked)
    assert before.iloc[:1500].equals(after.iloc[:1500])
    assert not before.iloc[1500:].equals(after.iloc[1500:])


# --- output shape and warm-up ---------------------------------------------------------------------


def test_labels_are_categorical_with_na_during_warmup() -> None:
    frame = trend(0.002)
    labels = classify(frame)
    assert labels.index.equals(frame.index)
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert tuple(labels.cat.categories) == REGIMES
    warmup = RegimeParams().warmup_bars
    assert labels.iloc[:warmup].isna().all()
    assert labels.iloc[warmup:].notna().all()
    assert classify(frame.iloc[:warmup]).isna().all()
    assert classify(frame.iloc[:0]).empty


def test_classify_rejects_missing_prices_and_bad_params() -> None:
    frame = trend(0.002)
    frame.iloc[10, frame.columns.get_loc("close")] = np.nan
    with pytest.raises(ValueError, match="'close' holds missing or infinite"):
        classify(frame)
    with pytest.raises(ValueError, match="needs column 'high'"):
        classify(frame.drop(columns="high"))
    with pytest.raises(ValueError, match="confirm_bars must be at least 1"):
        RegimeParams(confirm_bars=0)
    with pytest.raises(ValueError, match="vol_quantile"):
        RegimeParams(vol_quantile=1.5)


# --- synthetic markets get the obvious labels -------------------------------------------------------


def test_strong_uptrend_is_trending_up() -> None:
    share = shares(classify(trend(0.002)))
    assert share["trending_up"] > 0.7
    assert share["trending_down"] == 0.0


def test_strong_downtrend_is_trending_down() -> None:
    share = shares(classify(trend(-0.002)))
    assert share["trending_down"] > 0.7
    assert share["trending_up"] == 0.0


def test_flat_noise_is_ranging() -> None:
    share = shares(classify(flat()))
    assert share["ranging"] > 0.7
    assert share["trending_up"] + share["trending_down"] < 0.05


def test_volatility_burst_is_volatile() -> None:
    calm, burst = classify(flat()), classify(flat(burst=slice(1500, 1560)))
    inside = burst.iloc[1505:1560]
    assert (inside == "volatile").mean() > 0.95
    assert (calm.iloc[1505:1560] == "volatile").mean() < 0.5


def test_steady_volatility_is_never_volatile() -> None:
    # Constant relative ranges: the ATR ranks are float noise; vol_ratio_min keeps them out.
    close = 100 * np.exp(0.001 * np.arange(1500))
    frame = synthetic(close, spread=0.0)
    assert shares(classify(frame))["volatile"] == 0.0


def test_hysteresis_waits_for_confirm_bars() -> None:
    frame = flat(burst=slice(1500, 1560))
    quick = classify(frame, RegimeParams(confirm_bars=1))
    slow = classify(frame, RegimeParams(confirm_bars=5))
    assert summarize(slow).transitions.to_numpy().sum() < summarize(quick).transitions.to_numpy().sum()
    first_quick = int(np.flatnonzero((quick.iloc[1500:] == "volatile").to_numpy())[0])
    first_slow = int(np.flatnonzero((slow.iloc[1500:] == "volatile").to_numpy())[0])
    assert first_slow >= first_quick + 4


# --- summarize --------------------------------------------------------------------------------------


def test_summarize_counts_shares_transitions_and_runs() -> None:
    values = [
        None,
        None,
        "ranging",
        "ranging",
        "ranging",
        "trending_up",
        "trending_up",
        "ranging",
        "volatile",
    ]
    labels = pd.Series(pd.Categorical(values, categories=list(REGIMES)))
    summary = summarize(labels)
    assert summary.bars == {"trending_up": 2, "trending_down": 0, "ranging": 4, "volatile": 1}
    assert summary.share["ranging"] == pytest.approx(4 / 7)
    assert sum(summary.share.values()) == pytest.approx(1.0)
    assert summary.mean_duration_bars == {
        "trending_up": 2.0,
        "trending_down": 0.0,
        "ranging": 2.0,
        "volatile": 1.0,
    }
    t = summary.transitions
    assert (
        t.loc["ranging", "trending_up"],
        t.loc["trending_up", "ranging"],
        t.loc["ranging", "volatile"],
    ) == (1, 1, 1)
    assert t.to_numpy().sum() == 3
    assert np.diag(t.to_numpy()).sum() == 0
    with pytest.raises(ValueError, match="no labelled bars"):
        summarize(labels.iloc[:2])


@pytest.mark.shared_data
def test_summarize_real_labels(freqtrade_data: Path) -> None:
    labels = classify(load_candles(freqtrade_data / "ETH_BTC-5m.feather").frame)
    summary = summarize(labels)
    labelled = labels.dropna().astype(str).to_numpy()
    assert sum(summary.share.values()) == pytest.approx(1.0)
    assert sum(summary.bars.values()) == labelled.size
    assert summary.transitions.to_numpy().sum() == int((labelled[1:] != labelled[:-1]).sum())
    assert all(0.02 < share < 0.9 for share in summary.share.values())


# --- regime_at and label_trades -----------------------------------------------------------------------


def five_bar_labels() -> pd.Series:
    index = pd.date_range("2024-01-01 00:00", periods=5, freq="5min", tz="UTC", name="date")
    values = [None, "ranging", "trending_up", "volatile", "trending_down"]
    return pd.Series(pd.Categorical(values, categories=list(REGIMES)), index=index)


def test_regime_at_uses_the_last_closed_bar() -> None:
    labels = five_bar_labels()
    times = pd.Series(
        pd.to_datetime(
            [
                "2024-01-01 00:04",  # inside bar 0: nothing closed yet
                "2024-01-01 00:07",  # inside bar 1: bar 0 closed (warm-up, NA)
                "2024-01-01 00:12",  # inside bar 2: sees bar 1
                "2024-01-01 00:15",  # bar 2 closes exactly now
                "2024-01-01 00:24:59",  # inside bar 4: sees bar 3
                "2024-01-01 00:25",  # last bar closed
                "2024-01-01 00:30",  # one bar past the data: still the last label
                "2024-01-01 00:31",  # beyond the data's reach
                None,
            ],
            utc=True,
            format="ISO8601",
        ),
        index=list("abcdefghi"),
    )
    known = regime_at(labels, pd.Timedelta(minutes=5), times)
    assert list(known.index) == list("abcdefghi")
    assert isinstance(known.dtype, pd.CategoricalDtype)
    assert known.astype(object).where(known.notna(), None).tolist() == [
        None,
        None,
        "ranging",
        "trending_up",
        "volatile",
        "trending_down",
        "trending_down",
        None,
        None,
    ]
    by_string = regime_at(labels, "5m", pd.DatetimeIndex(times.dropna()))
    assert by_string.index.equals(pd.RangeIndex(8))
    assert (by_string[2], by_string[3]) == ("ranging", "trending_up")


def synthetic_market() -> Market:
    frames = {"UP/USDT": trend(0.002), "DOWN/USDT": trend(-0.002, seed=5)}
    candles = {
        symbol: Candles(symbol, "5m", "spot", frame, Path("memory"), gap_report(frame.index, pd.Timedelta("5min")))
        for symbol, frame in frames.items()
    }
    return Market(candles=candles, funding={}, source=Path("memory"))


def test_label_trades_fills_only_missing_regimes() -> None:
    market = synthetic_market()
    start = market.for_symbol("UP/USDT").frame.index[0]
    trades = pd.DataFrame(
        {
            "symbol": ["UP/USDT", "UP/USDT", "DOWN/USDT", "DOWN/USDT"],
            "entry_time": [start + pd.Timedelta(hours=h) for h in (100, 110, 100, 1)],
            "exit_time": [start + pd.Timedelta(hours=h) for h in (101, 111, 102, 2)],
            "regime": ["volatile", None, None, None],
        },
        index=[10, 10, 11, 12],
    )
    out = label_trades(trades, market)
    assert trades["regime"].isna().sum() == 3  # the input is not changed

    def known(symbol: str, times: pd.Series) -> list[object]:
        labels = classify(market.for_symbol(symbol).frame)
        return regime_at(labels, "5m", pd.DatetimeIndex(times)).astype(object).tolist()

    up_entry = known("UP/USDT", trades["entry_time"].iloc[:2])
    down_entry = known("DOWN/USDT", trades["entry_time"].iloc[2:])
    assert up_entry[0] != "volatile"  # so keeping "volatile" below is the given value, not a lookup
    assert out["regime"].iloc[0] == "volatile"
    assert out["regime"].iloc[1:3].tolist() == [up_entry[1], down_entry[0]] == ["trending_up", "trending_down"]
    assert pd.isna(out["regime"].iloc[3])  # entry within the warm-up: no regime known
    exits = known("UP/USDT", trades["exit_time"].iloc[:2]) + known("DOWN/USDT", trades["exit_time"].iloc[2:3])
    assert out["exit_regime"].iloc[:3].tolist() == exits
    assert out["regime"].dtype == "str" and out["exit_regime"].dtype == "str"


def test_label_trades_without_regime_column_and_with_open_trades() -> None:
    market = synthetic_market()
    start = market.for_symbol("UP/USDT").frame.index[0]
    trades = pd.DataFrame(
        {"symbol": ["UP/USDT"], "entry_time": [start + pd.Timedelta(hours=50)], "exit_time": [pd.NaT]}
    )
    out = label_trades(trades, market)
    assert out["regime"].tolist() == ["trending_up"]
    assert out["exit_regime"].isna().all()


def test_label_trades_unknown_symbol_is_an_input_error() -> None:
    market = synthetic_market()
    trades = pd.DataFrame(
        {
            "symbol": ["UP/USDT", "ETH/BTC"],
            "entry_time": pd.to_datetime(["2024-01-05"] * 2, utc=True),
            "exit_time": pd.to_datetime(["2024-01-06"] * 2, utc=True),
        }
    )
    with pytest.raises(InputError, match=r"no candles for symbol 'ETH/BTC'.*DOWN/USDT, UP/USDT"):
        label_trades(trades, market)
    with pytest.raises(ValueError, match="lack columns"):
        label_trades(trades.drop(columns="exit_time"), market)


@pytest.mark.shared_data
def test_label_real_backtest_trades(freqtrade_data: Path) -> None:
    export = json.loads((freqtrade_data / "backtest_results" / "backtest-result.json").read_text())
    raw = pd.DataFrame(export["strategy"]["StrategyTestV3"]["trades"])
    trades = pd.DataFrame(
        {
            "symbol": raw["pair"],
            "entry_time": pd.to_datetime(raw["open_date"], utc=True),
            "exit_time": pd.to_datetime(raw["close_date"], utc=True),
        }
    )
    out = label_trades(trades, load_market(freqtrade_data))
    assert len(out) == 179
    warmup_end = pd.Timestamp("2018-01-10 04:55", tz="UTC") + RegimeParams().warmup_bars * pd.Timedelta("5min")
    late = out["entry_time"] >= warmup_end + pd.Timedelta(hours=1)
    assert out.loc[late, "regime"].notna().all()
    assert set(out["regime"].dropna()) <= set(REGIMES)
