"""The audit's error-rate benchmark (backtests/audit_error_rates.py) on a few seeds: bounds a sound audit
meets with overwhelming probability and a broken one fails.

The null case (a martingale sample, no fees) may flag ``worse`` in at most ``max_flags(N, alpha)`` of N
seeds (more has probability under 1e-3 at the nominal rate); its trades are clustered by day (a
cluster per live day, many trades each), so an audit that stopped clustering fails here too.

The planted bad cut is flagged on only about a third of the samples after 30 days (the benchmark's
power: momentum's net edge differs from sample to sample), too few for a bound on a handful of random
seeds. So its seeds are two the benchmark found clearly worse (p = 0.002 and 0.007 on 505 and 559
trades, effects -5.6e-4 and -3.7e-4 per trade): a correct audit flags both ``worse``; an audit with its
rule's sign flipped calls them ``better``, one without the test's one-sidedness or with a weaker level
may flag them but then also flags the null seeds' noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scipy.stats import binom

from backtests.audit_error_rates import Task, cases, max_flags, rate, run_seed
from framework.config import Settings

NULL_SEEDS = (1000, 1001, 1002)
PLANTED_SEEDS = (1005, 1009)
DAYS = 60


def rows(name: str, seeds: tuple[int, ...], folder: Path) -> list[dict[str, Any]]:
    case = cases()[name]
    return [run_seed(Task(case, seed, DAYS, 3, folder / str(seed))) for seed in seeds]


def test_max_flags_is_the_binomial_bound() -> None:
    for seeds in (3, 10, 40):
        m = max_flags(seeds, 0.05)
        assert binom.sf(m, seeds, 0.05) < 1e-3 <= binom.sf(m - 1, seeds, 0.05)
    assert max_flags(3, 0.05) == 2 and max_flags(40, 0.05) == 7
    assert rate(0, 40)["interval"][0] == 0.0 and rate(40, 40)["interval"][1] == 1.0
    assert rate(2, 40)["interval"][0] < 0.05 < rate(2, 40)["interval"][1]


def test_the_null_case_flags_at_most_what_chance_allows_and_clusters_by_day(tmp_path: Path) -> None:
    found = rows("null", NULL_SEEDS, tmp_path)
    assert all("error" not in r for r in found), found
    worse = sum(r["verdict"] == "worse" for r in found)
    assert worse <= max_flags(len(NULL_SEEDS), Settings().audit.alpha), found
    for row in found:
        assert row["kind"] == "growth" and row["trades"] >= 300  # a month of trades
        assert 29 <= row["clusters"] <= 31 < row["trades"] / 5, row  # one cluster per live day


def test_the_planted_bad_cut_is_flagged_worse_on_seeds_where_it_clearly_is(tmp_path: Path) -> None:
    found = rows("planted_bad", PLANTED_SEEDS, tmp_path)
    assert all("error" not in r for r in found), found
    assert [r["verdict"] for r in found] == ["worse", "worse"], found
    assert all(r["effect"] < 0 and r["p_worse"] < Settings().audit.alpha < r["p_better"] for r in found), found
