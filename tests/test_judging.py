"""The per-trade tests of the gate: Holm's correction, and the tests' size and power on simulated trades."""

from __future__ import annotations

import numpy as np
import pytest

from framework.judging import day_clusters, holm, paired_evidence, quality_evidence

DAY = 86_400 * 10**9


def test_holm_adjusts_step_down_and_keeps_the_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9, 0.001]) == pytest.approx([0.4, 0.9, 0.003])


def test_day_clusters_are_as_long_as_the_median_hold() -> None:
    entries = np.array([0, DAY // 2, DAY + 1, 3 * DAY, 5 * DAY]) + 10 * DAY
    assert day_clusters(entries, np.full(5, DAY // 4)).tolist() == [0, 0, 1, 3, 5]
    assert day_clusters(entries, np.full(5, 2 * DAY)).tolist() == [0, 0, 0, 1, 2]


def _clusters(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.sort(rng.integers(0, 40, size=n))


def test_the_paired_test_keeps_its_size_and_finds_a_real_effect() -> None:
    rng = np.random.default_rng(0)
    null = [
        paired_evidence("return", rng.normal(0.0, 0.02, 400), _clusters(rng, 400), reps=300, seed=k).p_value < 0.05
        for k in range(200)
    ]
    assert np.mean(null) <= 0.09  # measured 0.03
    found = paired_evidence("return", rng.normal(0.006, 0.02, 400), _clusters(rng, 400), reps=300, seed=1)
    assert found.p_value < 0.01 and found.interval[0] > 0 and found.kind == "return"


def test_the_quality_test_ignores_how_much_is_traded_and_sees_which_trades() -> None:
    rng = np.random.default_rng(1)
    # a book with an edge: dropping a random fifth of it changes nothing about the quality of what is kept
    null = []
    for k in range(200):
        returns = rng.normal(0.01, 0.05, 500)
        dropped = rng.random(500) < 0.2
        clusters = _clusters(rng, 500)
        evidence = quality_evidence(
            returns[~dropped], clusters[~dropped], returns[dropped], clusters[dropped], reps=300, seed=k
        )
        null.append(evidence.p_value < 0.05)
    assert np.mean(null) <= 0.09  # measured 0.03
    returns = np.r_[rng.normal(0.02, 0.05, 400), rng.normal(-0.01, 0.05, 100)]
    clusters = _clusters(rng, 500)
    found = quality_evidence(returns[:400], clusters[:400], returns[400:], clusters[400:], reps=300, seed=2)
    assert found.p_value < 0.001 and found.effect == pytest.approx(returns[:400].mean() - returns[400:].mean())


def test_co_moving_trades_widen_the_interval_beyond_independent_trades() -> None:
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(30), 20)
    shared = rng.normal(0.0, 0.03, 30)[clusters]  # trades open together move together
    together = paired_evidence("return", shared + rng.normal(0, 0.005, 600), clusters, reps=500, seed=0)
    apart = paired_evidence("return", rng.normal(0, 0.0304, 600), clusters, reps=500, seed=0)
    assert together.interval[1] - together.interval[0] > 2.5 * (apart.interval[1] - apart.interval[0])


def test_too_few_trades_is_no_evidence() -> None:
    evidence = quality_evidence(
        np.array([0.1]), np.array([0]), np.array([0.0, 0.1]), np.array([0, 1]), reps=100, seed=0
    )
    assert evidence.p_value == 1.0
    assert paired_evidence("growth", np.array([0.1, 0.2]), np.array([0, 0]), reps=100, seed=0).p_value == 1.0
    assert np.isinf(evidence.needed_trades(0.05))
