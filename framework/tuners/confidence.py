"""Confidence-threshold tuner: keep the entries whose confidence pays, per regime."""

from __future__ import annotations

import math

import numpy as np

from framework.playbook import ParameterChange
from framework.regimes import REGIMES
from framework.tuners.base import NoProposal, Proposal, Tuner, TuningContext


class ConfidenceTuner(Tuner):
    """Score thresholds on the seed's measure, then judge the best by replay.

    For each regime, thresholds on a grid of ``step`` are scored by average return x win rate x
    log(trade count) over the trades at or above them; the ``replayed`` best-scoring ones are replayed
    and ranked by ``metric`` (Sharpe by default: a filter should raise the quality of what is left,
    not merely the amount traded). From executed trades alone a threshold may only rise: a lower one would
    admit trades the bot never took. With a signal log (its untaken signals in the replay), it may fall.
    """

    name = "confidence_threshold"
    parameters = ("confidence_threshold",)

    def __init__(self, step: float = 0.05, replayed: int = 4, min_kept: int = 30, metric: str = "sharpe"):
        self.step = step
        self.replayed = replayed
        self.min_kept = min_kept
        self.metric = metric

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        outcomes: list[Proposal | NoProposal] = []
        may_lower = context.signals is not None
        baseline = context.replay.baseline()
        for regime in REGIMES:
            trades = context.trades_in(regime)
            current = float(context.playbook.value(regime, "confidence_threshold"))  # type: ignore[arg-type]
            if trades.empty:
                outcomes.append(NoProposal(self.name, regime, "confidence_threshold", f"no trades in {regime}"))
                continue
            returns = context.features.frame.loc[trades.index, "outcome_return"].to_numpy()
            confidence = trades["confidence"].to_numpy()
            grid = self._grid(current, confidence, may_lower)
            scored = [(self._seed_score(returns[confidence >= t]), t) for t in grid]
            scored = [(s, t) for s, t in scored if math.isfinite(s)]
            if not scored:
                reason = f"fewer than {self.min_kept} trades (min_kept) would remain in {regime} at any other threshold"
                outcomes.append(NoProposal(self.name, regime, "confidence_threshold", reason))
                continue
            shortlist = [t for _, t in sorted(scored, reverse=True)[: self.replayed]]
            metrics = context.replay.evaluate([[ParameterChange(regime, "confidence_threshold", t)] for t in shortlist])
            ranked = metrics.assign(threshold=shortlist).sort_values(self.metric, ascending=False)
            better = ranked[ranked[self.metric] > baseline[self.metric]]
            if better.empty:
                reason = f"no threshold beats {current:g} in {regime} on replayed {self.metric}"
                outcomes.append(NoProposal(self.name, regime, "confidence_threshold", reason))
                continue
            best = better.iloc[0]
            kept = int((confidence >= best["threshold"]).sum())
            outcomes.append(
                Proposal(
                    tuner=self.name,
                    regime=regime,
                    parameter="confidence_threshold",
                    current=current,
                    candidates=tuple(float(t) for t in better["threshold"]),
                    confidence=float(min(1.0, kept / (kept + self.min_kept))),
                    rationale=(
                        f"trades at confidence >= {best['threshold']:.2f} in {regime} ({kept} of "
                        f"{len(trades)}) replay to {self.metric} {best[self.metric]:.3f} vs "
                        f"{baseline[self.metric]:.3f} now"
                    ),
                    n_trials=len(grid),
                )
            )
        return outcomes

    def _grid(self, current: float, confidence: np.ndarray, may_lower: bool) -> list[float]:
        low = 0.0 if may_lower else current
        top = float(np.quantile(confidence, 0.9))
        grid = np.round(np.arange(low, top + 1e-9, self.step), 10)
        return [float(t) for t in grid if t != current]

    def _seed_score(self, returns: np.ndarray) -> float:
        returns = returns[np.isfinite(returns)]  # signals the bot did not take have no outcome
        if returns.size < self.min_kept:
            return -math.inf
        return float(returns.mean() * (returns > 0).mean() * math.log(returns.size))
