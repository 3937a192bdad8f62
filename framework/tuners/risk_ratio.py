"""Stop-loss and profit-exit tuner: an Optuna search per regime of the stop and of whichever profit exits
the regime's block has (the risk/reward ratio, the ROI table's scale), its stop range drawn from how far
trades really moved, scored by replaying the trades."""

from __future__ import annotations

import numpy as np
import pandas as pd

from framework.regimes import REGIMES
from framework.search import SearchResult, SearchSpec, run_search
from framework.trades.excursions import excursions
from framework.tuners.base import NoProposal, Proposal, Tuner, TuningContext


class RiskRatioTuner(Tuner):
    """Search stop and targets per regime with Optuna (TPE, seeded), the replay as objective.

    Searched: ``stop_loss``; ``risk_reward_ratio`` unless the regime's is empty (no take-profit); and
    ``minimal_roi_scale`` when the regime has a ``minimal_roi`` table (within ``roi_scale_range``).
    The stop range spans the ``stop_quantiles`` of the trades' adverse excursions (how far price went
    against them: the log's ``min_rate``/``max_rate`` where present, else the candles between entry and
    exit) and at least the largest change a session allows around the current stop, within the bounds.
    Trials maximise replayed log growth; a trial that liquidates or worsens the max drawdown by more
    than ``drawdown_slack`` is infeasible. The best ``top`` feasible trials that beat the current
    playbook become the candidates.
    """

    name = "risk_ratio"
    parameters = ("stop_loss", "risk_reward_ratio", "minimal_roi_scale")

    def __init__(
        self,
        trials: int = 40,
        stop_quantiles: tuple[float, float] = (0.2, 0.9),
        risk_reward_range: tuple[float, float] = (0.5, 4.0),
        drawdown_slack: float = 0.05,
        top: int = 3,
        roi_scale_range: tuple[float, float] = (0.5, 2.0),
    ):
        self.trials = trials
        self.stop_quantiles = stop_quantiles
        self.risk_reward_range = risk_reward_range
        self.drawdown_slack = drawdown_slack
        self.top = top
        self.roi_scale_range = roi_scale_range

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        adverse, favourable = excursions(context.trades, context.market)
        baseline = context.replay.baseline()
        self.searches_: dict[str, SearchResult] = {}
        outcomes: list[Proposal | NoProposal] = []
        for regime in REGIMES:
            in_regime = (context.trades["regime"] == regime).to_numpy()
            if not in_regime.any():
                for parameter in self.parameters:
                    outcomes.append(NoProposal(self.name, regime, parameter, f"no trades in {regime}"))
                continue
            space = self._space(context, regime, adverse[in_regime])
            outcomes.extend(
                NoProposal(self.name, regime, parameter, self._not_searched(parameter))
                for parameter in self.parameters
                if parameter not in space
            )
            spec = SearchSpec(
                study_name=f"risk_ratio-{regime}-{context.seed}{context.study_suffix}",
                regime=regime,
                space=space,
                objective="log_growth",
                max_drawdown_floor=drawdown_floor(float(baseline["max_drawdown"]), self.drawdown_slack),
                seed=context.seed,
                n_trials=self.trials,
                data=context.data_ref,
            )
            result = run_search(
                spec, context.replay.inputs, context.playbook, context.replay.settings, context.search_storage
            )
            self.searches_[regime] = result
            outcomes.extend(self._proposals(context, regime, result, baseline, favourable[in_regime], tuple(space)))
        return outcomes

    @staticmethod
    def _not_searched(parameter: str) -> str:
        if parameter == "risk_reward_ratio":
            return "risk_reward_ratio is empty (no take-profit); an empty parameter is not tuned"
        return "no minimal_roi table to scale"

    def _space(self, context: TuningContext, regime: str, adverse: np.ndarray) -> dict[str, tuple[float, float]]:
        """Stops between the excursion quantiles, widened to what one session may change the current
        stop by (a stopped-out trade's excursion ends at the old stop), within the bounds."""
        bounds = context.playbook.bounds
        current = float(context.playbook.value(regime, "stop_loss"))  # type: ignore[arg-type]
        reach = context.settings.max_parameter_change
        finite = adverse[np.isfinite(adverse) & (adverse > 0)]
        low_q, high_q = self.stop_quantiles
        stop_low, stop_high = current * (1 - reach), current * (1 + reach)
        if finite.size:
            stop_low = min(stop_low, float(np.quantile(finite, low_q)))
            stop_high = max(stop_high, float(np.quantile(finite, high_q)))
        space = {"stop_loss": (max(stop_low, bounds["stop_loss"][0]), min(stop_high, bounds["stop_loss"][1]))}
        block = context.playbook.parameters_for(regime)
        if block.risk_reward_ratio is not None:
            space["risk_reward_ratio"] = _within(self.risk_reward_range, bounds["risk_reward_ratio"])
        if block.minimal_roi is not None:
            space["minimal_roi_scale"] = _within(self.roi_scale_range, bounds["minimal_roi_scale"])
        return space

    def _proposals(
        self,
        context: TuningContext,
        regime: str,
        result: SearchResult,
        baseline: pd.Series,
        favourable: np.ndarray,
        searched: tuple[str, ...],
    ) -> list[Proposal | NoProposal]:
        trials = result.trials
        better = trials[trials["feasible"] & (trials["value"] > baseline["log_growth"])]
        better = better.sort_values("value", ascending=False).head(self.top)
        if better.empty:
            reason = (
                f"none of {result.n_trials} searched ({', '.join(searched)}) points beats the current one in "
                f"{regime} on replayed log growth within the drawdown limit"
            )
            return [NoProposal(self.name, regime, p, reason) for p in searched]
        best = better.iloc[0]
        typical_move = float(np.nanmedian(favourable)) if np.isfinite(favourable).any() else float("nan")
        targets = ""
        if "risk_reward_ratio" in searched:
            targets += f", target {best['stop_loss'] * best['risk_reward_ratio']:.4f}"
        if "minimal_roi_scale" in searched:
            targets += f", ROI table x {best['minimal_roi_scale']:.3f}"
        rationale = (
            f"{regime}: best of {result.n_trials} trials, stop {best['stop_loss']:.4f}{targets} (median "
            f"favourable move {typical_move:.4f}) replay to log growth {best['value']:.3f} "
            f"vs {baseline['log_growth']:.3f} now"
        )
        confidence = float(result.n_feasible / max(result.n_trials, 1))
        return [
            Proposal(
                tuner=self.name,
                regime=regime,
                parameter=parameter,
                current=float(context.playbook.value(regime, parameter)),  # type: ignore[arg-type]
                candidates=tuple(dict.fromkeys(round(float(v), 6) for v in better[parameter])),
                confidence=confidence,
                rationale=rationale,
                n_trials=result.n_trials,
            )
            for parameter in searched
        ]


def _within(wanted: tuple[float, float], bounds: tuple[float, float]) -> tuple[float, float]:
    return max(wanted[0], bounds[0]), min(wanted[1], bounds[1])


def drawdown_floor(baseline_drawdown: float, slack: float) -> float:
    """The worst drawdown a trial may reach: ``slack`` below the current playbook's, never past a total
    loss (-1), so a baseline already near -100 % still gives a search (that only liquidation-free,
    no-worse trials pass) instead of a limit the search spec refuses."""
    return max(-1.0, min(0.0, baseline_drawdown - slack))
