"""Tests of the validation statistics: PSR, DSR, MinTRL and the daily grid."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.statistics import (
    daily_grid,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_from_moments,
    probabilistic_sharpe_ratio,
    sharpe_moments,
    sharpe_per_period,
)

RETURNS = [0.01, -0.02, 0.03, 0.015, -0.005, 0.02, 0.0, 0.012]


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _hand_moments(values: list[float]) -> tuple[float, float, float]:
    """Sharpe (ddof=1), skewness and raw kurtosis (population estimators) in plain Python."""
    n = len(values)
    mean = sum(values) / n
    m2 = sum((v - mean) ** 2 for v in values) / n
    m3 = sum((v - mean) ** 3 for v in values) / n
    m4 = sum((v - mean) ** 4 for v in values) / n
    sample_std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean / sample_std, m3 / m2**1.5, m4 / m2**2


# --- Sharpe ratio and its moments -------------------------------------------------------------


def test_sharpe_is_per_period_with_ddof_1() -> None:
    # mean 2.5, sample std sqrt(5/3): not annualised, not population std
    assert sharpe_per_period([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.5 / math.sqrt(5 / 3), rel=1e-12)


def test_moments_match_a_hand_computation() -> None:
    sharpe, skewness, kurtosis = _hand_moments(RETURNS)
    moments = sharpe_moments(pd.Series(RETURNS))
    assert moments.n_observations == len(RETURNS)
    assert moments.sharpe == pytest.approx(sharpe, rel=1e-12)
    assert moments.skewness == pytest.approx(skewness, rel=1e-12)
    assert moments.kurtosis == pytest.approx(kurtosis, rel=1e-12)


def test_kurtosis_is_raw_not_excess() -> None:
    returns = np.random.default_rng(3).normal(0.0, 1.0, 200_000)
    assert sharpe_moments(returns).kurtosis == pytest.approx(3.0, abs=0.05)


# --- Probabilistic Sharpe ratio -------------------------------------------------------------


def test_psr_from_moments_matches_the_formula_by_hand() -> None:
    # SR 0.1 over 101 periods, normal: z = 0.1 * 10 / sqrt(1 + 2/4 * 0.01)
    assert probabilistic_sharpe_from_moments(0.1, 101, 0.0, 3.0) == pytest.approx(
        _phi(1.0 / math.sqrt(1.005)), abs=1e-12
    )
    # SR 0.2 against 0.05 over 51 periods, skew -1, kurtosis 6
    z = 0.15 * math.sqrt(50) / math.sqrt(1 + 0.2 + 5 / 4 * 0.04)
    assert probabilistic_sharpe_from_moments(0.2, 51, -1.0, 6.0, 0.05) == pytest.approx(_phi(z), abs=1e-12)


def test_psr_of_returns_uses_their_sample_moments() -> None:
    sharpe, skewness, kurtosis = _hand_moments(RETURNS)
    z = (sharpe - 0.1) * math.sqrt(len(RETURNS) - 1)
    z /= math.sqrt(1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2)
    assert probabilistic_sharpe_ratio(RETURNS, benchmark_sharpe=0.1) == pytest.approx(_phi(z), abs=1e-12)


def test_psr_against_its_own_sharpe_is_one_half() -> None:
    returns = np.random.default_rng(7).normal(0.001, 0.02, 500)
    assert probabilistic_sharpe_ratio(returns, sharpe_per_period(returns)) == pytest.approx(0.5, abs=1e-12)


def test_negative_skew_and_fat_tails_lower_the_psr() -> None:
    normal = probabilistic_sharpe_from_moments(0.1, 250, 0.0, 3.0)
    assert probabilistic_sharpe_from_moments(0.1, 250, -2.0, 3.0 + 5.0) < normal
    assert probabilistic_sharpe_from_moments(0.1, 250, 0.0, 10.0) < normal


def test_excess_kurtosis_is_refused() -> None:
    # skew -3 needs raw kurtosis >= 10: an excess kurtosis of 7 cannot be raw
    with pytest.raises(ValueError, match="excess kurtosis"):
        probabilistic_sharpe_from_moments(0.1, 1250, -3.0, 7.0)


# --- Deflated Sharpe ratio ----------------------------------------------------------------


def test_paper_example_expected_max_sharpe_and_dsr() -> None:
    """Bailey & Lopez de Prado (2014): annual SR 2.5, 1,250 days, N=100, annual V 0.5, skew -3,
    kurtosis 10 -> SR0 = 0.1132 per day and DSR = 0.9004."""
    daily_sharpe = 2.5 / math.sqrt(250)
    daily_variance = 0.5 / 250
    assert expected_max_sharpe(daily_variance, 100) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_from_moments(
        daily_sharpe, 1250, -3.0, 10.0, n_trials=100, trial_sharpe_variance=daily_variance
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_approximates_the_max_of_normal_trials() -> None:
    draws = np.random.default_rng(11).normal(0.0, math.sqrt(0.01), (4000, 100))
    simulated = draws.max(axis=1).mean()  # E[max of 100 N(0, 0.01)] = 0.2508
    assert expected_max_sharpe(0.01, 100) == pytest.approx(simulated, rel=0.02)


def test_expected_max_sharpe_edges() -> None:
    assert expected_max_sharpe(0.5, 1) == 0.0
    assert expected_max_sharpe(0.0, 100) == 0.0
    assert expected_max_sharpe(0.01, 10) < expected_max_sharpe(0.01, 100) < expected_max_sharpe(0.01, 1000)
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0.01, 0)
    with pytest.raises(ValueError, match=">= 0"):
        expected_max_sharpe(-0.01, 10)


def test_dsr_takes_variance_and_count_from_the_trials() -> None:
    rng = np.random.default_rng(5)
    returns = rng.normal(0.1, 1.0, 400)
    trials = [0.02, -0.05, 0.08, 0.01, sharpe_per_period(returns)]
    moments = sharpe_moments(returns)
    expected = deflated_sharpe_from_moments(
        moments.sharpe,
        moments.n_observations,
        moments.skewness,
        moments.kurtosis,
        n_trials=5,
        trial_sharpe_variance=float(np.var(trials, ddof=1)),
    )
    assert deflated_sharpe_ratio(returns, trials) == pytest.approx(expected, abs=1e-12)
    more_trials = deflated_sharpe_ratio(returns, trials, n_trials=50)
    given_variance = deflated_sharpe_ratio(returns, n_trials=5, trial_sharpe_variance=float(np.var(trials, ddof=1)))
    assert more_trials < expected
    assert given_variance == pytest.approx(expected, abs=1e-12)


def test_dsr_with_one_trial_is_the_psr_against_zero() -> None:
    returns = np.random.default_rng(9).normal(0.05, 1.0, 300)
    assert deflated_sharpe_ratio(returns, n_trials=1) == pytest.approx(probabilistic_sharpe_ratio(returns))
    assert deflated_sharpe_ratio(returns, [0.05]) == pytest.approx(probabilistic_sharpe_ratio(returns))


def test_dsr_refuses_what_it_cannot_compute() -> None:
    returns = np.random.default_rng(9).normal(0.05, 1.0, 300)
    with pytest.raises(ValueError, match="n_trials or"):
        deflated_sharpe_ratio(returns)
    with pytest.raises(ValueError, match="at least 2"):
        deflated_sharpe_ratio(returns, n_trials=10)
    with pytest.raises(ValueError, match="less than"):
        deflated_sharpe_ratio(returns, [0.1, 0.2, 0.3], n_trials=2)
    with pytest.raises(ValueError, match="NaN"):
        deflated_sharpe_ratio(returns, [0.1, math.nan])


# --- Minimum track record length --------------------------------------------------------------


@pytest.mark.parametrize(("sharpe", "expected"), [(0.1, 272.9), (0.2, 70.0), (0.3, 32.4)])
def test_min_track_record_length_for_normal_trades(sharpe: float, expected: float) -> None:
    assert min_track_record_length(sharpe) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(("skewness", "kurtosis"), [(0.0, 3.0), (-1.0, 6.0), (0.5, 4.0)])
def test_min_track_record_length_inverts_the_psr(skewness: float, kurtosis: float) -> None:
    length = min_track_record_length(0.15, skewness=skewness, kurtosis=kurtosis, benchmark_sharpe=0.02)
    enough = math.ceil(length)
    assert probabilistic_sharpe_from_moments(0.15, enough, skewness, kurtosis, 0.02) >= 0.95
    assert probabilistic_sharpe_from_moments(0.15, enough - 1, skewness, kurtosis, 0.02) < 0.95


def test_min_track_record_length_edges() -> None:
    assert min_track_record_length(0.1, skewness=-2.0, kurtosis=9.0) > min_track_record_length(0.1)
    assert min_track_record_length(0.1, confidence=0.99) > min_track_record_length(0.1)
    assert min_track_record_length(0.05, benchmark_sharpe=0.05) == math.inf
    assert min_track_record_length(-0.1) == math.inf
    assert math.isnan(min_track_record_length(math.nan))
    with pytest.raises(ValueError, match="confidence"):
        min_track_record_length(0.1, confidence=95.0)


# --- Edge-case policy -----------------------------------------------------------------------


def test_zero_variance_gives_nan() -> None:
    flat = [0.0] * 50
    assert math.isnan(sharpe_per_period(flat))
    assert math.isnan(probabilistic_sharpe_ratio(flat))
    assert math.isnan(deflated_sharpe_ratio(flat, [0.1, 0.2, 0.0]))


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ([0.1, 0.2], "at least 3"),
        ([0.1, math.nan, 0.2, 0.3], "NaN"),
        ([0.1, math.inf, 0.2, 0.3], "NaN or infinite"),
        ([[0.1, 0.2], [0.3, 0.4]], "1-dimensional"),
        (["a", "b", "c"], "numbers"),
    ],
)
def test_invalid_returns_raise(returns: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probabilistic_sharpe_ratio(returns)


# --- Daily grid -------------------------------------------------------------------------------


def test_daily_grid_sums_per_utc_day_with_zero_days() -> None:
    times = pd.to_datetime(["2024-01-01T03:00Z", "2024-01-01T23:00Z", "2024-01-03T00:00Z"])
    grid = daily_grid(pd.Series([1.0, 2.0, -0.5], index=times), "2024-01-01", "2024-01-05")
    assert list(grid) == [3.0, 0.0, -0.5, 0.0, 0.0]
    assert grid.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert grid.index.name == "day"
    assert str(grid.index.tz) == "UTC"


def test_daily_grid_converts_other_time_zones_to_utc() -> None:
    athens = pd.DatetimeIndex(["2024-01-04 01:00", "2024-01-04 03:00"], tz="Europe/Athens")
    grid = daily_grid(pd.Series([4.0, 1.0], index=athens), "2024-01-03", "2024-01-04")
    assert list(grid) == [4.0, 1.0]  # 01:00 in Athens is 23:00 UTC the day before


def test_daily_grid_reads_naive_times_as_utc_and_handles_frames() -> None:
    times = pd.DatetimeIndex(["2024-02-01 10:00", "2024-02-02 10:00"])
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]}, index=times)
    grid = daily_grid(frame, pd.Timestamp("2024-01-31 12:00"), "2024-02-02")
    assert grid["a"].tolist() == [0.0, 1.0, 2.0]
    assert grid["b"].tolist() == [0.0, 0.5, 0.0]


def test_daily_grid_refuses_bad_input() -> None:
    times = pd.to_datetime(["2024-01-01T03:00Z", "2024-01-09T03:00Z"])
    with pytest.raises(ValueError, match="outside"):
        daily_grid(pd.Series([1.0, 2.0], index=times), "2024-01-01", "2024-01-08")
    with pytest.raises(ValueError, match="before"):
        daily_grid(pd.Series([1.0, 2.0], index=times), "2024-01-09", "2024-01-01")
    with pytest.raises(ValueError, match="NaN"):
        daily_grid(pd.Series([1.0, math.nan], index=times), "2024-01-01", "2024-01-09")
    with pytest.raises(ValueError, match="indexed by time"):
        daily_grid(pd.Series([1.0, 2.0]), "2024-01-01", "2024-01-09")
    with pytest.raises(ValueError, match="numbers"):
        daily_grid(pd.Series(["x", "y"], index=times), "2024-01-01", "2024-01-09")
