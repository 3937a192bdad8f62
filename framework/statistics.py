"""Statistics for the validation gate: Sharpe-ratio tests corrected for the number of trials tried.

Units, everywhere in this module:

- Sharpe ratios are **per period** (per observation: per day on a daily grid, per trade on a trade
  list), never annualised: mean / standard deviation (ddof=1) of the series as given. Returns may be
  fractions (0.01 = 1 %) or PnL in quote currency; the Sharpe ratio does not depend on the unit.
- Kurtosis is **raw** (3 for a normal distribution), never excess. Skewness and kurtosis of a sample
  are the population (biased) estimators, which always satisfy ``kurtosis >= 1 + skewness**2``.

Edge cases, one policy for every function:

- Invalid input raises ``ValueError``: the wrong number of dimensions, a value that is not a finite
  number, fewer than :data:`MIN_OBSERVATIONS` observations, a count or probability out of range.
- A statistic that valid input leaves undefined is ``NaN``: the Sharpe ratio of returns with zero
  variance and everything built on it. ``NaN`` compares false with any threshold, so a gate asking
  ``dsr >= 0.95`` rejects.
- One trial (N = 1) has nothing to deflate: the expected maximum Sharpe ratio is 0 and the deflated
  Sharpe ratio is the probabilistic Sharpe ratio against 0.

References: Bailey & Lopez de Prado, "The Sharpe Ratio Efficient Frontier" (2012) and "The Deflated
Sharpe Ratio" (2014).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

MIN_OBSERVATIONS = 3
"""Fewest observations any function here accepts: the sample skewness needs three."""

_MOMENT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SharpeMoments:
    """What the PSR, DSR and MinTRL need from a return series."""

    sharpe: float
    """Per-period Sharpe ratio: mean / std (ddof=1); NaN when the returns have zero variance."""
    n_observations: int
    """Number of returns (T)."""
    skewness: float
    """Sample skewness (population estimator); NaN when the returns have zero variance."""
    kurtosis: float
    """Raw sample kurtosis (3 for normal; population estimator); NaN when the variance is zero."""


def sharpe_moments(returns: ArrayLike) -> SharpeMoments:
    """Per-period Sharpe ratio, skewness and raw kurtosis of ``returns`` (1-D, finite, >= 3 values).

    Zero variance gives NaN for the Sharpe ratio, skewness and kurtosis (see the module's policy).
    """
    values = _as_returns(returns, "returns")
    mean = float(values.mean())
    centred = values - mean
    variance = float(np.mean(centred**2))
    n = len(values)
    if variance == 0.0:
        return SharpeMoments(sharpe=math.nan, n_observations=n, skewness=math.nan, kurtosis=math.nan)
    sample_std = math.sqrt(variance * n / (n - 1))
    return SharpeMoments(
        sharpe=mean / sample_std,
        n_observations=n,
        skewness=float(np.mean(centred**3)) / variance**1.5,
        kurtosis=float(np.mean(centred**4)) / variance**2,
    )


def sharpe_per_period(returns: ArrayLike) -> float:
    """Per-period Sharpe ratio, mean / std (ddof=1), NOT annualised; NaN for zero variance."""
    return sharpe_moments(returns).sharpe


def probabilistic_sharpe_from_moments(
    sharpe: float,
    n_observations: int,
    skewness: float,
    kurtosis: float,
    benchmark_sharpe: float = 0.0,
) -> float:
    """Probabilistic Sharpe ratio (0-1): the probability that the true per-period Sharpe ratio
    exceeds ``benchmark_sharpe``, given a sample Sharpe ratio over ``n_observations`` periods.

    PSR = Phi[(SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)], with the raw
    kurtosis. Both Sharpe ratios are per period. NaN when ``sharpe`` is NaN, or when the denominator
    is zero (a two-point distribution at one exact Sharpe ratio).
    """
    _check_count(n_observations, "n_observations", MIN_OBSERVATIONS)
    _check_finite(benchmark_sharpe, "benchmark_sharpe")
    if math.isnan(sharpe):
        return math.nan
    variance_term = _sharpe_variance_term(sharpe, skewness, kurtosis)
    if variance_term <= 0.0:
        return math.nan
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_observations - 1) / math.sqrt(variance_term)
    return float(norm.cdf(z))


def probabilistic_sharpe_ratio(returns: ArrayLike, benchmark_sharpe: float = 0.0) -> float:
    """Probabilistic Sharpe ratio (0-1) of ``returns`` against a per-period ``benchmark_sharpe``.

    See :func:`probabilistic_sharpe_from_moments`; the moments are the sample's.
    """
    moments = sharpe_moments(returns)
    return probabilistic_sharpe_from_moments(
        moments.sharpe, moments.n_observations, moments.skewness, moments.kurtosis, benchmark_sharpe
    )


def expected_max_sharpe(trial_sharpe_variance: float, n_trials: int) -> float:
    """Expected maximum per-period Sharpe ratio of ``n_trials`` skill-less trials (SR0 of the DSR).

    SR0 = sqrt(V) [(1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))], gamma the
    Euler-Mascheroni constant, V the variance of the trials' per-period Sharpe ratios (not annualised:
    an annual variance divides by the periods per year). One trial gives 0.
    """
    _check_finite(trial_sharpe_variance, "trial_sharpe_variance")
    if trial_sharpe_variance < 0.0:
        raise ValueError(f"trial_sharpe_variance must be >= 0, got {trial_sharpe_variance}")
    _check_count(n_trials, "n_trials", 1)
    if n_trials == 1:
        return 0.0
    gamma = np.euler_gamma
    quantiles = (1 - gamma) * norm.ppf(1 - 1 / n_trials) + gamma * norm.ppf(1 - 1 / (n_trials * math.e))
    return math.sqrt(trial_sharpe_variance) * float(quantiles)


def deflated_sharpe_from_moments(
    sharpe: float,
    n_observations: int,
    skewness: float,
    kurtosis: float,
    *,
    n_trials: int,
    trial_sharpe_variance: float,
) -> float:
    """Deflated Sharpe ratio (0-1): the PSR against the expected maximum Sharpe ratio of
    ``n_trials`` skill-less trials whose per-period Sharpe ratios have variance
    ``trial_sharpe_variance``. All Sharpe ratios per period, kurtosis raw.
    """
    benchmark = expected_max_sharpe(trial_sharpe_variance, n_trials)
    return probabilistic_sharpe_from_moments(sharpe, n_observations, skewness, kurtosis, benchmark)


def deflated_sharpe_ratio(
    returns: ArrayLike,
    trial_sharpes: Sequence[float] | ArrayLike | None = None,
    *,
    n_trials: int | None = None,
    trial_sharpe_variance: float | None = None,
) -> float:
    """Deflated Sharpe ratio (0-1) of the selected trial's ``returns``.

    ``trial_sharpes`` are the per-period Sharpe ratios of every trial tried (the selected one
    included), measured on the same periods as ``returns``. N is ``n_trials`` when given (it may exceed
    ``len(trial_sharpes)`` when only some trials were kept), else ``len(trial_sharpes)``. V is
    ``trial_sharpe_variance`` when given, else the variance (ddof=1) of ``trial_sharpes``; with N = 1
    no V is needed.
    """
    sharpes = None if trial_sharpes is None else _as_finite(trial_sharpes, "trial_sharpes", ndim=1)
    if n_trials is None:
        if sharpes is None or len(sharpes) == 0:
            raise ValueError("deflated_sharpe_ratio needs n_trials or the trials' Sharpe ratios")
        n_trials = len(sharpes)
    _check_count(n_trials, "n_trials", 1)
    if sharpes is not None and n_trials < len(sharpes):
        raise ValueError(f"n_trials ({n_trials}) is less than the {len(sharpes)} trial Sharpe ratios given")
    if trial_sharpe_variance is None:
        if n_trials == 1:
            trial_sharpe_variance = 0.0
        elif sharpes is None or len(sharpes) < 2:
            raise ValueError(
                "the variance of the trials' Sharpe ratios needs at least 2 of them; "
                "pass trial_sharpes or trial_sharpe_variance"
            )
        else:
            trial_sharpe_variance = float(np.var(sharpes, ddof=1))
    moments = sharpe_moments(returns)
    return deflated_sharpe_from_moments(
        moments.sharpe,
        moments.n_observations,
        moments.skewness,
        moments.kurtosis,
        n_trials=n_trials,
        trial_sharpe_variance=trial_sharpe_variance,
    )


def min_track_record_length(
    sharpe: float,
    *,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
    benchmark_sharpe: float = 0.0,
    confidence: float = 0.95,
) -> float:
    """Minimum number of periods for PSR(``benchmark_sharpe``) >= ``confidence`` (MinTRL).

    MinTRL = 1 + [1 - skew SR + (kurtosis - 1) / 4 SR^2] (Phi^-1(confidence) / (SR - SR*))^2, per-period
    Sharpe ratios, raw kurtosis (defaults: normal returns). A fractional count: round it up. ``inf``
    when ``sharpe <= benchmark_sharpe`` (no track record is long enough); NaN when ``sharpe`` is NaN.
    """
    _check_finite(benchmark_sharpe, "benchmark_sharpe")
    _check_finite(confidence, "confidence")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    if math.isnan(sharpe):
        return math.nan
    variance_term = _sharpe_variance_term(sharpe, skewness, kurtosis)
    if sharpe <= benchmark_sharpe:
        return math.inf
    z = float(norm.ppf(confidence))
    return 1.0 + variance_term * (z / (sharpe - benchmark_sharpe)) ** 2


def daily_grid(
    values: pd.Series | pd.DataFrame, first_day: str | date, last_day: str | date
) -> pd.Series | pd.DataFrame:
    """Sum ``values`` per UTC day over every day from ``first_day`` to ``last_day`` (both included).

    ``values`` is a Series (or a DataFrame, one column per trial) of numbers indexed by time, e.g.
    PnL by exit time; a naive index or day is read as UTC, an aware one is converted. A day with no
    value is 0. ``first_day`` and ``last_day`` are anything ``pd.Timestamp`` accepts; their time of
    day is ignored. The result is indexed by UTC midnights (index name ``day``), dtype float64.
    Raises ``ValueError`` for a non-time index, a value that is not a finite number, or a value
    outside the days.
    """
    if not isinstance(values, pd.Series | pd.DataFrame):
        raise ValueError(f"values must be a pandas Series or DataFrame, got {type(values).__name__}")
    if not isinstance(values.index, pd.DatetimeIndex):
        raise ValueError("values must be indexed by time (a DatetimeIndex)")
    times = _to_utc(values.index)
    first, last = _utc_day(first_day, "first_day"), _utc_day(last_day, "last_day")
    if last < first:
        raise ValueError(f"last_day ({last.date()}) is before first_day ({first.date()})")
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"values must be numbers: {error}") from error
    if not np.isfinite(numbers.to_numpy()).all():
        raise ValueError("values contain NaN or infinite numbers; fill or drop them first")
    outside = (times < first) | (times >= last + pd.Timedelta(days=1))
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} values fall outside {first.date()}..{last.date()} (UTC), "
            f"the first at {times[outside][0]}"
        )
    days = pd.date_range(first, last, freq="D", name="day")
    per_day = numbers.set_axis(times).groupby(times.floor("D")).sum()
    return per_day.reindex(days, fill_value=0.0)


def _sharpe_variance_term(sharpe: float, skewness: float, kurtosis: float) -> float:
    """1 - skew SR + (kurtosis - 1) / 4 SR^2, after checking the moments can belong to a distribution."""
    _check_finite(sharpe, "sharpe")
    _check_finite(skewness, "skewness")
    _check_finite(kurtosis, "kurtosis")
    if kurtosis < 1.0 + skewness**2 - _MOMENT_TOLERANCE:
        raise ValueError(
            f"kurtosis {kurtosis} is below 1 + skewness^2 = {1.0 + skewness**2}: no distribution has these "
            "moments (is it excess kurtosis? pass the raw kurtosis, 3 for normal)"
        )
    return 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2


def _as_finite(values: object, name: str, *, ndim: int) -> np.ndarray:
    """``values`` as a float64 array of ``ndim`` dimensions (a 1-D input becomes one column when
    ``ndim`` is 2), every value finite."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers: {error}") from error
    if ndim == 2 and array.ndim == 1:
        array = array[:, None]
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values; fill or drop them first")
    return array


def _as_returns(values: object, name: str, *, minimum: int = MIN_OBSERVATIONS) -> np.ndarray:
    array = _as_finite(values, name, ndim=1)
    if len(array) < minimum:
        raise ValueError(f"{name} needs at least {minimum} observations, got {len(array)}")
    return array


def _check_count(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_finite(value: float, name: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")


def _to_utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def _utc_day(day: str | date, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(day)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} is not a time: {day!r}") from error
    if stamp is pd.NaT:
        raise ValueError(f"{name} is not a time: {day!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return stamp.floor("D")
