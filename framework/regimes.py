"""A causal market-regime classifier: each bar is trending_up, trending_down, ranging or volatile.

Every indicator is recursive or trailing, so the label of bar ``t`` depends on bars ``0..t`` only and
``classify(frame.iloc[:t + 1])`` equals ``classify(frame).iloc[:t + 1]`` bit for bit. The rules, in
order, on each bar after the warm-up:

1. volatile: ATR as a fraction of close ranks at or above ``vol_quantile`` in the trailing window and
   is at least ``vol_ratio_min`` times the window's mean;
2. trending_up / trending_down: Wilder's ADX >= ``adx_trend`` and the EMA slope, in ATRs, beyond
   ``+slope_min`` / ``-slope_min``;
3. ranging otherwise.

Hysteresis: the current regime gives way only after ``confirm_bars`` consecutive bars of the same new
raw label. The classifier works on the rows it has: a missing bar is not a bar.

The numba kernels (plain float64 arrays in and out) come first; the pandas wrappers follow them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.jit import njit
from framework.market import TIMEFRAMES, Market

REGIMES: tuple[str, ...] = ("trending_up", "trending_down", "ranging", "volatile")
"""Regime names; a label's category code is its position here."""

_TRENDING_UP, _TRENDING_DOWN, _RANGING, _VOLATILE = range(len(REGIMES))
_WARMUP = -1


@dataclass(frozen=True)
class RegimeParams:
    """Classifier settings. Lengths are in bars (rows of the frame), thresholds as documented."""

    ema_span: int = 50
    """Span of the EMA of close whose slope tells the trend's direction."""
    slope_bars: int = 10
    """The slope is the EMA's change over this many bars, divided by the current ATR."""
    slope_min: float = 0.5
    """A trend needs an EMA slope beyond +/- this many ATRs over ``slope_bars``."""
    adx_period: int = 14
    """Wilder's period for +DI, -DI and ADX."""
    adx_trend: float = 25.0
    """ADX (0-100) at or above which the market trends."""
    atr_period: int = 14
    """Wilder's period of the ATR used for volatility and for normalising the slope."""
    vol_window: int = 500
    """Trailing window (bars, the current one included) that ranks the ATR/close fraction."""
    vol_min_periods: int = 100
    """Bars of ATR needed before the rank counts; the rank uses up to ``vol_window`` of them."""
    vol_quantile: float = 0.8
    """volatile when ATR/close ranks at or above this share (0-1) of the other values in the window..."""
    vol_ratio_min: float = 1.1
    """...and is at least this multiple of the window's mean, so that a steady market (whose ranks
    are noise) is never volatile. On the real data over 99.9 % of top-quintile bars pass 1.1."""
    confirm_bars: int = 3
    """Consecutive bars a new regime must show before it replaces the current one (1 = no hysteresis)."""

    def __post_init__(self) -> None:
        for name in ("ema_span", "slope_bars", "adx_period", "atr_period", "vol_window", "confirm_bars"):
            if getattr(self, name) < 1:
                raise ValueError(f"RegimeParams.{name} must be at least 1, got {getattr(self, name)}")
        if not 2 <= self.vol_min_periods <= self.vol_window:
            raise ValueError("RegimeParams.vol_min_periods must be between 2 and vol_window")
        if not 0 < self.vol_quantile <= 1:
            raise ValueError(f"RegimeParams.vol_quantile must be in (0, 1], got {self.vol_quantile}")
        if self.slope_min < 0 or self.adx_trend < 0 or self.vol_ratio_min < 0:
            raise ValueError("RegimeParams.slope_min, adx_trend and vol_ratio_min must not be negative")

    @property
    def warmup_bars(self) -> int:
        """Leading bars left unlabelled: until ADX, the ATR rank and the EMA slope are all defined."""
        return max(
            2 * self.adx_period - 1,
            self.atr_period + self.vol_min_periods - 2,
            self.slope_bars,
            self.ema_span,
        )


# --- numba kernels: float64 arrays in, arrays out ---------------------------------------------------


@njit(cache=True)
def _ema_nb(values: np.ndarray, span: int) -> np.ndarray:
    """EMA with alpha 2 / (span + 1), seeded with the first value (pandas ewm(adjust=False))."""
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(values)
    out[0] = values[0]
    for i in range(1, values.shape[0]):
        out[i] = out[i - 1] + alpha * (values[i] - out[i - 1])
    return out


@njit(cache=True)
def wilder_nb(values: np.ndarray, period: int, start: int) -> np.ndarray:
    """Wilder's smoothing: NaN until ``start + period - 1``, seeded there with the mean of the first
    ``period`` values from ``start``, then ``prev + (value - prev) / period``."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    seed = start + period - 1
    if seed >= n:
        return out
    total = 0.0
    for i in range(start, seed + 1):
        total += values[i]
    out[seed] = total / period
    for i in range(seed + 1, n):
        out[i] = out[i - 1] + (values[i] - out[i - 1]) / period
    return out


@njit(cache=True)
def true_range_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    out = np.empty_like(high)
    out[0] = high[0] - low[0]
    for i in range(1, high.shape[0]):
        out[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    return out


@njit(cache=True)
def _adx_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ADX (0-100); NaN for the first ``2 * period - 1`` bars."""
    n = high.shape[0]
    plus_dm = np.zeros(n)
    minus_dm = np.zeros(n)
    for i in range(1, n):
        up = high[i] - high[i - 1]
        down = low[i - 1] - low[i]
        if up > down and up > 0.0:
            plus_dm[i] = up
        if down > up and down > 0.0:
            minus_dm[i] = down
    true_range = true_range_nb(high, low, close)
    smooth_tr = wilder_nb(true_range, period, 1)
    smooth_plus = wilder_nb(plus_dm, period, 1)
    smooth_minus = wilder_nb(minus_dm, period, 1)
    dx = np.zeros(n)
    for i in range(period, n):
        if smooth_tr[i] > 0.0:
            plus_di = 100.0 * smooth_plus[i] / smooth_tr[i]
            minus_di = 100.0 * smooth_minus[i] / smooth_tr[i]
            if plus_di + minus_di > 0.0:
                dx[i] = 100.0 * abs(plus_di - minus_di) / (plus_di + minus_di)
    return wilder_nb(dx, period, period)


@njit(cache=True)
def trailing_rank_nb(values: np.ndarray, window: int, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, over the non-NaN values of the trailing ``window`` (current bar included):
    the current value's rank (0-1; share of the other values below it, ties counting half) and its
    ratio to the window's mean. Both NaN while fewer than ``min_periods`` values are present."""
    n = values.shape[0]
    rank = np.full(n, np.nan)
    ratio = np.full(n, np.nan)
    for i in range(n):
        current = values[i]
        if np.isnan(current):
            continue
        others = 0
        below = 0.0
        total = current
        for j in range(max(0, i - window + 1), i):
            if not np.isnan(values[j]):
                others += 1
                total += values[j]
                if values[j] < current:
                    below += 1.0
                elif values[j] == current:
                    below += 0.5
        if others + 1 >= min_periods:
            rank[i] = below / others
            mean = total / (others + 1)
            ratio[i] = current / mean if mean > 0.0 else 1.0
    return rank, ratio


@njit(cache=True)
def _raw_regimes_nb(
    slope: np.ndarray,
    adx: np.ndarray,
    vol_rank: np.ndarray,
    vol_ratio: np.ndarray,
    warmup: int,
    adx_trend: float,
    slope_min: float,
    vol_quantile: float,
    vol_ratio_min: float,
) -> np.ndarray:
    """Regime code per bar before hysteresis; -1 during the warm-up."""
    n = slope.shape[0]
    out = np.full(n, _WARMUP, dtype=np.int8)
    for i in range(warmup, n):
        if vol_rank[i] >= vol_quantile and vol_ratio[i] >= vol_ratio_min:
            out[i] = _VOLATILE
        elif adx[i] >= adx_trend and slope[i] > slope_min:
            out[i] = _TRENDING_UP
        elif adx[i] >= adx_trend and slope[i] < -slope_min:
            out[i] = _TRENDING_DOWN
        else:
            out[i] = _RANGING
    return out


@njit(cache=True)
def _confirm_nb(raw: np.ndarray, confirm_bars: int) -> np.ndarray:
    """Hysteresis: switch to a new code after ``confirm_bars`` consecutive bars of it; -1 passes through."""
    out = np.empty_like(raw)
    current = _WARMUP
    candidate = _WARMUP
    streak = 0
    for i in range(raw.shape[0]):
        code = raw[i]
        if current == _WARMUP or code in (_WARMUP, current):
            current = code
            candidate = _WARMUP
            streak = 0
        else:
            if code == candidate:
                streak += 1
            else:
                candidate = code
                streak = 1
            if streak >= confirm_bars:
                current = code
                candidate = _WARMUP
                streak = 0
        out[i] = current
    return out


@njit(cache=True)
def _classify_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    ema_span: int,
    slope_bars: int,
    slope_min: float,
    adx_period: int,
    adx_trend: float,
    atr_period: int,
    vol_window: int,
    vol_min_periods: int,
    vol_quantile: float,
    vol_ratio_min: float,
    confirm_bars: int,
    warmup: int,
) -> np.ndarray:
    """Regime codes (index into REGIMES, -1 in the warm-up) for float64 high, low, close."""
    n = close.shape[0]
    atr = wilder_nb(true_range_nb(high, low, close), atr_period, 0)
    ema = _ema_nb(close, ema_span)
    slope = np.full(n, np.nan)
    vol = np.full(n, np.nan)
    for i in range(n):
        if not np.isnan(atr[i]):
            vol[i] = atr[i] / close[i]
            if i >= slope_bars:
                change = ema[i] - ema[i - slope_bars]
                slope[i] = change / atr[i] if atr[i] > 0.0 else 0.0
    adx = _adx_nb(high, low, close, adx_period)
    vol_rank, vol_ratio = trailing_rank_nb(vol, vol_window, vol_min_periods)
    raw = _raw_regimes_nb(slope, adx, vol_rank, vol_ratio, warmup, adx_trend, slope_min, vol_quantile, vol_ratio_min)
    return _confirm_nb(raw, confirm_bars)


# --- pandas wrappers ------------------------------------------------------------------------------


def classify(frame: pd.DataFrame, params: RegimeParams | None = None) -> pd.Series:
    """Label each bar of ``frame`` (columns high, low, close; rows in time order) with its regime.

    Returns a Series on ``frame.index`` named ``regime`` of dtype ``category`` with the categories
    :data:`REGIMES` in that order; the first ``params.warmup_bars`` bars are NA. Causal: a prefix of
    the frame gets exactly the prefix of the labels. ``ValueError`` when a price is missing or
    infinite (load candles with :func:`framework.market.load_candles`, which rejects those).
    """
    params = params or RegimeParams()
    arrays: dict[str, np.ndarray] = {}
    for column in ("high", "low", "close"):
        if column not in frame.columns:
            raise ValueError(f"classify needs column {column!r}; the frame has {list(frame.columns)}")
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values).all():
            raise ValueError(f"column {column!r} holds missing or infinite prices")
        arrays[column] = np.ascontiguousarray(values)
    if len(frame) == 0:
        codes = np.empty(0, dtype=np.int8)
    else:
        codes = _classify_nb(
            arrays["high"],
            arrays["low"],
            arrays["close"],
            params.ema_span,
            params.slope_bars,
            params.slope_min,
            params.adx_period,
            params.adx_trend,
            params.atr_period,
            params.vol_window,
            params.vol_min_periods,
            params.vol_quantile,
            params.vol_ratio_min,
            params.confirm_bars,
            params.warmup_bars,
        )
    return pd.Series(_categorical(codes), index=frame.index, name="regime")


def regime_at(labels: pd.Series, timeframe: pd.Timedelta | str, times: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """The regime known at each of ``times``: the label of the last bar that had closed by then.

    ``labels`` is :func:`classify`'s output, indexed by bar OPEN time (UTC); a bar closes at open +
    ``timeframe`` (a Timedelta or a freqtrade string such as "5m"). A time inside bar i thus sees bar
    i-1's label. NA when no bar has closed yet, for NaT times, and for times past the candles' reach
    (later than one bar after the last bar's close), so that a trade outside the data gets no regime.
    Naive times are taken as UTC. Returns a ``category`` Series (categories :data:`REGIMES`) on
    ``times``' index when ``times`` is a Series, else on a RangeIndex (``result[i]`` is the regime at
    ``times[i]``).
    """
    length = TIMEFRAMES[timeframe] if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    stamps = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns")
    codes = _codes_at(labels, length, stamps)
    index = times.index if isinstance(times, pd.Series) else None
    return pd.Series(_categorical(codes), index=index, name="regime")


class RegimeLabels:
    """The labels of each symbol's bars (:func:`classify` on its whole candles), computed on a
    symbol's first use and kept, so that every window of a tune reads the same labels from one
    classification per symbol. A window never needs its own: the labels of a bar depend on the bars
    up to it only, so the whole candles' labels are the labels any prefix would get."""

    def __init__(self, market: Market, params: RegimeParams | None = None):
        self.market = market
        self.params = params or RegimeParams()
        self._labels: dict[str, pd.Series] = {}

    def for_symbol(self, symbol: str) -> pd.Series:
        """:func:`classify` of ``symbol``'s candles; ``InputError`` naming a symbol without candles."""
        if symbol not in self._labels:
            self._labels[symbol] = classify(self.market.for_symbol(symbol).frame, self.params)
        return self._labels[symbol]

    def check(self, market: Market, params: RegimeParams | None) -> None:
        """``ValueError`` unless these labels are of ``market`` with ``params`` (None: any)."""
        if market is not self.market:
            raise ValueError("the regime labels given were computed for another market")
        if params is not None and params != self.params:
            raise ValueError(f"the regime labels given were computed with {self.params}, not {params}")


def label_trades(
    trades: pd.DataFrame,
    market: Market,
    params: RegimeParams | None = None,
    *,
    labels: RegimeLabels | None = None,
) -> pd.DataFrame:
    """A copy of ``trades`` with ``regime`` filled where missing and a new ``exit_regime`` column.

    ``trades`` has ``symbol``, ``entry_time`` and ``exit_time`` (UTC; NaT for an open trade) and may have
    ``regime``. Missing regimes get the regime known at ``entry_time`` (see :func:`regime_at`) on the
    symbol's candles; regimes already present are kept. ``exit_regime`` is the regime known at
    ``exit_time``. Both columns are ``str`` with NA where no regime is known. A symbol without candles
    is an ``InputError`` naming it (from :meth:`Market.for_symbol`). ``labels`` (of ``market``, with
    ``params``) reuses bar labels already computed instead of classifying the candles again.
    """
    if labels is None:
        labels = RegimeLabels(market, params)
    labels.check(market, params)
    missing = [column for column in ("symbol", "entry_time", "exit_time") if column not in trades.columns]
    if missing:
        raise ValueError(f"trades lack columns {missing}")
    out = trades.copy()
    entry = pd.DatetimeIndex(pd.to_datetime(out["entry_time"], utc=True)).as_unit("ns")
    exit_ = pd.DatetimeIndex(pd.to_datetime(out["exit_time"], utc=True)).as_unit("ns")
    entry_codes = np.full(len(out), _WARMUP, dtype=np.int8)
    exit_codes = np.full(len(out), _WARMUP, dtype=np.int8)
    symbols = out["symbol"].to_numpy(dtype=object)
    for symbol in pd.unique(symbols):
        length = TIMEFRAMES[market.for_symbol(symbol).timeframe]
        bars = labels.for_symbol(symbol)
        rows = symbols == symbol
        entry_codes[rows] = _codes_at(bars, length, entry[rows])
        exit_codes[rows] = _codes_at(bars, length, exit_[rows])
    known = pd.Series(_categorical(entry_codes), index=out.index).astype("str")
    given = out["regime"].astype("str") if "regime" in out.columns else pd.Series(np.nan, index=out.index, dtype="str")
    out["regime"] = given.where(given.notna(), known)
    out["exit_regime"] = pd.Series(_categorical(exit_codes), index=out.index).astype("str")
    return out


@dataclass(frozen=True, eq=False)
class RegimeSummary:
    """How a labelled series splits into regimes (warm-up NAs left out)."""

    share: dict[str, float]
    """Fraction (0-1) of labelled bars per regime; sums to 1."""
    bars: dict[str, int]
    """Labelled bars per regime."""
    transitions: pd.DataFrame
    """Count of changes from regime (row, ``from``) to regime (column, ``to``); diagonal 0."""
    mean_duration_bars: dict[str, float]
    """Mean length in bars of the uninterrupted runs of each regime; 0.0 for a regime never seen."""


def summarize(labels: pd.Series) -> RegimeSummary:
    """Shares, bar counts, transitions and mean run lengths of :func:`classify`'s labels.

    Consecutive labelled bars are compared (NA bars dropped). ``ValueError`` when no bar is labelled.
    """
    codes = _to_codes(labels)
    codes = codes[codes != _WARMUP]
    if codes.size == 0:
        raise ValueError("no labelled bars to summarize (the series is within the classifier's warm-up)")
    count = len(REGIMES)
    bars = np.bincount(codes, minlength=count)
    changes = np.flatnonzero(codes[1:] != codes[:-1])
    transitions = np.zeros((count, count), dtype=np.int64)
    np.add.at(transitions, (codes[changes], codes[changes + 1]), 1)
    run_starts = np.concatenate(([0], changes + 1))
    runs = np.bincount(codes[run_starts], minlength=count)
    return RegimeSummary(
        share={name: float(bars[i] / codes.size) for i, name in enumerate(REGIMES)},
        bars={name: int(bars[i]) for i, name in enumerate(REGIMES)},
        transitions=pd.DataFrame(
            transitions,
            index=pd.Index(REGIMES, name="from"),
            columns=pd.Index(REGIMES, name="to"),
        ),
        mean_duration_bars={name: float(bars[i] / runs[i]) if runs[i] else 0.0 for i, name in enumerate(REGIMES)},
    )


def _categorical(codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(REGIMES))


def _to_codes(labels: pd.Series) -> np.ndarray:
    """Category codes of ``labels`` (category or str); -1 for NA and for names outside REGIMES."""
    return pd.Categorical(labels, categories=list(REGIMES)).codes.astype(np.int8)


def _codes_at(labels: pd.Series, timeframe: pd.Timedelta, times: pd.DatetimeIndex) -> np.ndarray:
    """Code of the last bar closed at each time; -1 before the first close, past reach, and for NaT."""
    if not isinstance(labels.index, pd.DatetimeIndex):
        raise ValueError("labels must be indexed by bar open time (a DatetimeIndex)")
    codes = _to_codes(labels)
    if codes.size == 0:
        return np.full(len(times), _WARMUP, dtype=np.int8)
    closes = pd.DatetimeIndex(labels.index.tz_convert("UTC") if labels.index.tz else labels.index.tz_localize("UTC"))
    closes = (closes + timeframe).as_unit("ns")
    position = closes.searchsorted(times, side="right") - 1
    reach = closes[-1] + timeframe
    usable = (position >= 0) & ~times.isna() & (times <= reach)
    return np.where(usable, codes[np.clip(position, 0, None)], _WARMUP).astype(np.int8)
