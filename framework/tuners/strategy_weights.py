"""Strategy-weight tuner: give more margin to the strategies whose trades pay, within a concentration cap."""

from __future__ import annotations

from framework.playbook import STRATEGY_WEIGHTS, ParameterChange
from framework.tuners.base import NoProposal, Proposal, Tuner, TuningContext


class StrategyWeightTuner(Tuner):
    """Replay each strategy's weight scaled by ``multipliers`` and keep what improves the mix.

    Weights shift the book's composition, so candidates are judged on replayed ``metric`` (Sharpe by
    default, which more margin alone does not raise) and must beat the current playbook. A weight whose
    share of all weights would exceed ``max_share`` is not tried, so one strategy never takes over.
    """

    name = "strategy_weights"
    parameters = ("strategy_weights",)

    def __init__(
        self,
        multipliers: tuple[float, ...] = (0.5, 0.75, 1.25, 1.5),
        max_share: float = 0.6,
        metric: str = "sharpe",
    ):
        self.multipliers = multipliers
        self.max_share = max_share
        self.metric = metric

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        strategies = sorted(context.trades["strategy"].unique())
        if len(strategies) < 2:
            return [NoProposal(self.name, STRATEGY_WEIGHTS, "*", "only one strategy traded: nothing to weigh")]
        baseline = context.replay.baseline()
        weights = {s: context.playbook.strategy_weight(s) for s in strategies}
        returns = context.features.frame["outcome_return"]
        outcomes: list[Proposal | NoProposal] = []
        for strategy in strategies:
            current = weights[strategy]
            others = sum(w for s, w in weights.items() if s != strategy)
            grid = [
                round(current * m, 6)
                for m in self.multipliers
                if current * m / (current * m + others) <= self.max_share
            ]
            if not grid:
                reason = f"every tried weight of {strategy} would exceed a {self.max_share:.0%} share"
                outcomes.append(NoProposal(self.name, STRATEGY_WEIGHTS, strategy, reason))
                continue
            metrics = context.replay.evaluate([[ParameterChange(STRATEGY_WEIGHTS, strategy, w)] for w in grid])
            ranked = metrics.assign(weight=grid).sort_values(self.metric, ascending=False)
            better = ranked[ranked[self.metric] > baseline[self.metric]]
            own = returns[context.trades["strategy"] == strategy]
            if better.empty:
                reason = f"no weight of {strategy} beats {current:g} on replayed {self.metric}"
                outcomes.append(NoProposal(self.name, STRATEGY_WEIGHTS, strategy, reason))
                continue
            best = better.iloc[0]
            outcomes.append(
                Proposal(
                    tuner=self.name,
                    regime=STRATEGY_WEIGHTS,
                    parameter=strategy,
                    current=current,
                    candidates=tuple(float(w) for w in better["weight"]),
                    confidence=float(min(1.0, len(better) / len(grid))),
                    rationale=(
                        f"{strategy}: mean return on margin {own.mean():.2%} over {len(own)} trades; "
                        f"weight {best['weight']:g} replays to {self.metric} {best[self.metric]:.3f} "
                        f"vs {baseline[self.metric]:.3f} now"
                    ),
                    n_trials=len(grid),
                )
            )
        return outcomes
