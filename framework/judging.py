"""How one proposal's out-of-sample record is tested: per trade, against the current playbook.

The replay is an exact counterfactual on the same trades, so the change and the current playbook are
compared trade by trade, on the trades the change reaches (its regime, or its strategy):

- **growth** (leverage, position size): each trade's contribution to the account's log growth,
  ``log(1 + exposure x return)``, paired: the change against the current playbook;
- **return** (stop-loss, risk/reward, maximum hold): each trade's return on margin, paired;
- **quality** (a confidence threshold, a strategy weight): the trades the change trades more of against
  the trades it trades less of. A raised threshold must drop worse-than-average trades (the removed
  against the kept), a lowered one admit better-than-average ones, a weight raised must favour a
  strategy whose trades beat the others'. Trading less (or more) of trades of the same quality earns
  nothing here, whatever the book's edge and fees.

Trades open at the same time move together, so the effect's standard error is the larger of the
trades' own (as if independent) and a bootstrap's that resamples clusters of consecutive days (as long
as the median holding time): the clusters see the co-movement, the trades' own spread guards against the
few clusters of a short log understating it. Every test is one-sided (the change is better), its
p-value the normal tail of the effect over that error, its interval the effect +- 1.645 errors (90 %);
:func:`holm` corrects the p-values of a session's proposals for their number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from framework.statistics import min_track_record_length

INTERVAL = 0.90
"""Coverage of the reported effect intervals."""
TESTS = {
    "growth": "log growth per trade, paired with the current playbook",
    "return": "return on margin per trade, paired with the current playbook",
    "quality": "mean return of the trades traded more against those traded less",
}


@dataclass(frozen=True)
class Evidence:
    """One test of a change against the current playbook on the same out-of-sample trades."""

    kind: str
    """A key of :data:`TESTS`: ``growth``, ``return`` or ``quality``."""
    observations: int
    """Trades compared."""
    effect: float
    """Mean paired difference per trade, or the difference in mean return between the two groups
    (fractions); positive = the change is better."""
    interval: tuple[float, float]
    """The effect's 90 % interval."""
    p_value: float
    """One-sided p-value of "the change is no better", before the correction for several proposals."""
    clusters: int
    """Independent clusters of days the trades were resampled in."""

    @property
    def test(self) -> str:
        return TESTS[self.kind]

    @property
    def significantly_worse(self) -> bool:
        """The whole interval below zero: worse with 95 % confidence (one-sided)."""
        return self.interval[1] < 0.0

    def needed_trades(self, alpha: float) -> float:
        """Trades that would make the measured effect significant at ``alpha``: the minimum track record
        length at the effect's size per trade (t / sqrt(trades)); inf when the effect is not positive."""
        low, high = self.interval
        error = (high - low) / (2.0 * norm.ppf(0.5 + INTERVAL / 2.0))
        if not self.effect > 0 or not error > 0 or self.observations < 1:
            return math.inf
        per_trade = self.effect / error / math.sqrt(self.observations)
        return min_track_record_length(per_trade, confidence=1.0 - alpha)


def paired_evidence(kind: str, differences: np.ndarray, clusters: np.ndarray, *, reps: int, seed: int) -> Evidence:
    """Evidence that the mean of per-trade ``differences`` (change minus current) is above zero."""
    empty = np.array([])
    return _bootstrap(kind, differences, clusters, empty, empty.astype(np.int64), reps, seed)


def quality_evidence(
    more: np.ndarray,
    more_clusters: np.ndarray,
    less: np.ndarray,
    less_clusters: np.ndarray,
    *,
    reps: int,
    seed: int,
) -> Evidence:
    """Evidence that the trades the change trades more of (``more``, returns on margin) return more on
    average than those it trades less of (``less``)."""
    return _bootstrap("quality", more, more_clusters, less, less_clusters, reps, seed)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (in their order): valid under any dependence."""
    m = len(p_values)
    order = sorted(range(m), key=lambda k: p_values[k])
    adjusted = [1.0] * m
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[k]))
        adjusted[k] = running
    return adjusted


def day_clusters(entry_ns: np.ndarray, hold_ns: np.ndarray) -> np.ndarray:
    """Cluster id of each entry: consecutive blocks of whole UTC days, each as long as the median of the
    holding times ``hold_ns`` (at least a day), counted from the first entry."""
    day = 86_400 * 10**9
    if len(entry_ns) == 0:
        return np.zeros(0, dtype=np.int64)
    length = max(1, math.ceil(float(np.median(hold_ns)) / day)) * day if len(hold_ns) else day
    start = (int(entry_ns.min()) // day) * day
    return ((entry_ns - start) // length).astype(np.int64)


def _bootstrap(
    kind: str,
    first: np.ndarray,
    first_clusters: np.ndarray,
    second: np.ndarray,
    second_clusters: np.ndarray,
    reps: int,
    seed: int,
) -> Evidence:
    """mean(first) - mean(second) (second empty: mean(first)), its interval and one-sided p-value."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    paired = len(second) == 0
    observations = len(first) + len(second)
    ids = np.unique(np.concatenate([first_clusters, second_clusters]))
    if len(first) < 2 or (not paired and len(second) < 2) or len(ids) < 2:
        effect = float(first.mean() - (second.mean() if len(second) else 0.0)) if len(first) else 0.0
        return Evidence(kind, observations, effect, (effect, effect), 1.0, len(ids))
    effect = float(first.mean() - (0.0 if paired else second.mean()))
    first_sum, first_count = _per_cluster(first, first_clusters, ids)
    second_sum, second_count = _per_cluster(second, second_clusters, ids)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=reps).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        resampled = draws @ first_sum / (draws @ first_count)
        if not paired:
            resampled = resampled - draws @ second_sum / (draws @ second_count)
    resampled = resampled[np.isfinite(resampled)]
    independent = math.sqrt(first.var(ddof=1) / len(first) + (second.var(ddof=1) / len(second) if not paired else 0.0))
    clustered = float(resampled.std(ddof=1)) if resampled.size > 1 else 0.0
    # Trades open at the same time move together (the clusters' spread sees that), but a few clusters
    # understate the spread (the trades' own spread sees that): the larger of the two is the error.
    error = max(independent, clustered)
    if not error > 0:
        return Evidence(kind, observations, effect, (effect, effect), 1.0 if effect <= 0 else 0.5, len(ids))
    z = float(norm.ppf(0.5 + INTERVAL / 2.0))
    p_value = float(norm.sf(effect / error))
    return Evidence(kind, observations, effect, (effect - z * error, effect + z * error), p_value, len(ids))


def _per_cluster(values: np.ndarray, clusters: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.searchsorted(ids, clusters)
    return (
        np.bincount(index, weights=values, minlength=len(ids)),
        np.bincount(index, minlength=len(ids)).astype(float),
    )
