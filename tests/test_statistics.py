"""Tests of the validation statistics: PSR, DSR, MinTRL, SPA, PBO and the daily grid."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.statistics import (
    MIN_SPA_OBSERVATIONS,
    _stationary_long_run_variance,
    daily_grid,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    pbo_cscv,
    probabilistic_sharpe_from_moments,
    probabilistic_sharpe_ratio,
    sharpe_moments,
    sharpe_per_period,
    spa_test,
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


# --- Hansen's SPA -----------------------------------------------------------------------------

SPA_PERIODS, SPA_CANDIDATES, SPA_REPETITIONS, SPA_REPS = 500, 20, 20, 500


def _rejection_rate(make_returns: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]) -> float:
    rejected = 0
    for repetition in range(SPA_REPETITIONS):
        baseline, candidates = make_returns(np.random.default_rng(1000 + repetition))
        result = spa_test(baseline, candidates, reps=SPA_REPS, seed=repetition)
        rejected += result.pvalue < 0.05
    return rejected / SPA_REPETITIONS


def _noise(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0, 1, SPA_PERIODS), rng.normal(0, 1, (SPA_PERIODS, SPA_CANDIDATES))


def _one_edge(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    baseline, candidates = _noise(rng)
    candidates[:, 0] += 0.3  # per-period SR 0.3 against a baseline of SR 0
    return baseline, candidates


def test_spa_size_under_the_null() -> None:
    # measured: 1 of 20 repetitions below 0.05
    assert _rejection_rate(_noise) <= 0.15


def test_spa_power_with_a_clear_edge() -> None:
    # measured: 19 of 20
    assert _rejection_rate(_one_edge) >= 0.8


def test_spa_power_survives_volatile_candidates() -> None:
    """Five times more volatile noise candidates (e.g. more leverage) beside the one with an edge:
    arch 8.0's unstudentised statistic rejects in 0 of 20; the studentised one in 19 of 20."""

    def volatile(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        baseline, candidates = _one_edge(rng)
        candidates[:, 1:] *= 5.0
        return baseline, candidates

    assert _rejection_rate(volatile) >= 0.8


def test_spa_result_fields_and_reproducibility() -> None:
    baseline, candidates = _one_edge(np.random.default_rng(42))
    first = spa_test(baseline, candidates, reps=300, seed=1)
    again = spa_test(baseline, candidates, reps=300, seed=1)
    assert first == again
    assert first.pvalue_lower <= first.pvalue <= first.pvalue_upper
    assert first.n_observations == SPA_PERIODS
    assert first.n_candidates == SPA_CANDIDATES
    assert first.identical_candidates == ()
    assert first.block_size is not None and first.block_size >= 1
    assert spa_test(baseline, candidates, block_size=7, reps=300).block_size == 7


def test_spa_leaves_out_candidates_identical_to_the_baseline() -> None:
    baseline, candidates = _noise(np.random.default_rng(8))
    with_copy = np.column_stack([candidates[:, :3], baseline, candidates[:, 3:5]])
    result = spa_test(baseline, with_copy, block_size=3, reps=300)
    alone = spa_test(baseline, np.column_stack([candidates[:, :3], candidates[:, 3:5]]), block_size=3, reps=300)
    assert result.identical_candidates == (3,)
    assert result.n_candidates == 5
    assert result.pvalue == alone.pvalue

    rounded = np.column_stack([candidates[:, 0], (baseline + 1e-13) - 1e-13])
    assert spa_test(baseline, rounded, reps=300).identical_candidates == (1,)

    only_copies = spa_test(baseline, np.column_stack([baseline, baseline]), reps=300)
    assert (only_copies.pvalue, only_copies.block_size, only_copies.n_candidates) == (1.0, None, 0)


def test_spa_refuses_bad_input() -> None:
    baseline, candidates = _noise(np.random.default_rng(2))
    with pytest.raises(ValueError, match="same amount"):
        spa_test(baseline, np.column_stack([candidates[:, 0], baseline + 0.01]))
    with pytest.raises(ValueError, match="periods"):
        spa_test(baseline, candidates[:-1])
    with pytest.raises(ValueError, match=f"at least {MIN_SPA_OBSERVATIONS}"):
        spa_test(baseline[:10], candidates[:10])
    days = pd.date_range("2024-01-01", periods=SPA_PERIODS, freq="D", tz="UTC")
    with pytest.raises(ValueError, match="different indexes"):
        spa_test(pd.Series(baseline, index=days), pd.DataFrame(candidates, index=days + pd.Timedelta(days=1)))


def test_long_run_variance_matches_hansens_formula() -> None:
    rng = np.random.default_rng(4)
    series = rng.normal(size=(120, 3)) + np.column_stack([np.convolve(rng.normal(size=122), [1, 1, 1], "valid")] * 3)
    n, q = len(series), 1 / 6
    demeaned = series - series.mean(axis=0)
    expected = (demeaned**2).sum(axis=0) / n
    for lag in range(1, n):
        kappa = (1 - lag / n) * (1 - q) ** lag + (lag / n) * (1 - q) ** (n - lag)
        expected += 2 * kappa * (demeaned[:-lag] * demeaned[lag:]).sum(axis=0) / n
    np.testing.assert_allclose(_stationary_long_run_variance(series, 6), expected, rtol=1e-10)


# --- Probability of backtest overfitting --------------------------------------------------------


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    # measured: mean 0.541 over 10 seeds (T=1000, N=20, S=8)
    values = [pbo_cscv(np.random.default_rng(seed).normal(size=(1000, 20)), n_blocks=8) for seed in range(10)]
    assert 0.35 <= float(np.mean(values)) <= 0.65


def test_pbo_with_one_truly_better_strategy_is_small() -> None:
    # measured: 0.0 for S=10
    matrix = np.random.default_rng(1).normal(size=(1000, 20))
    matrix[:, 7] += 0.25
    assert pbo_cscv(matrix, n_blocks=10) <= 0.1


def test_pbo_ranks_in_the_right_direction() -> None:
    first_half, second_half = (
        np.r_[np.full(10, 1.0), np.full(10, -1.0)],
        np.r_[np.full(10, -1.0), np.full(10, 1.0)],
    )
    wiggle = np.tile([0.1, -0.1], 10)
    # each strategy shines in the block the other does badly in: the in-sample best always loses out of sample
    reversing = np.column_stack([first_half + wiggle, second_half + wiggle])
    assert pbo_cscv(reversing, n_blocks=2) == 1.0
    # the same strategy wins in every block: never overfit
    persistent = np.column_stack([np.abs(first_half) + wiggle, wiggle])
    assert pbo_cscv(persistent, n_blocks=2) == 0.0


def test_pbo_handles_flat_trials_and_uneven_blocks() -> None:
    matrix = np.random.default_rng(6).normal(size=(203, 5))
    matrix[:, 0] = 0.0  # a trial that never traded
    matrix[:, 1] += 0.5
    assert pbo_cscv(matrix, n_blocks=16) == 0.0


@pytest.mark.parametrize(
    ("shape", "n_blocks", "message"),
    [
        ((100, 1), 4, "at least 2 trials"),
        ((100, 5), 5, "even"),
        ((15, 5), 8, "at least 16 rows"),
        ((100, 5), 0, ">= 2"),
    ],
)
def test_pbo_refuses_bad_input(shape: tuple[int, int], n_blocks: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pbo_cscv(np.zeros(shape), n_blocks=n_blocks)


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
