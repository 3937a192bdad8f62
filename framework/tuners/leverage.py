"""Leverage tuner: a gradient-boosting model points the way; replayed log growth, drawdown and
liquidations decide, under a fractional-Kelly ceiling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from framework.errors import PlaybookTunerError
from framework.models import ModelReport, cross_validate, feasible_folds, make_regressor, one_thread
from framework.playbook import ParameterChange
from framework.regimes import REGIMES
from framework.tuners.base import NoProposal, Proposal, Tuner, TuningContext


class LeverageTuner(Tuner):
    """Per regime, replay leverage scaled by ``steps`` and keep what grows the account safely.

    A ``HistGradientBoostingRegressor`` learns PnL efficiency (return on margin per unit of leverage) from
    the entry features, cross-validated with purged walk-forward folds. The seed's rule (more leverage
    when trades win in calm markets, less when they lose or the market is wild) is made sound by asking
    the model and the outcomes rather than the win rate, which misleads for trend followers that win
    seldom but big: look up when the predicted and realised efficiency are both positive and the
    volatility rank is below ``calm_below``; look down when either is not positive or the rank is above
    ``wild_above``; else both ways. Sharpe hardly moves with leverage, so candidates are
    judged on replayed log growth, must not liquidate more than now, and may worsen the max drawdown
    by at most ``drawdown_slack``. No increase goes beyond ``kelly_fraction`` of the growth-optimal
    (Kelly) leverage for the regime's trade outcomes at the regime's position size.
    """

    name = "leverage"
    parameters = ("leverage",)

    def __init__(
        self,
        steps: tuple[float, ...] = (0.7, 0.85, 1.15, 1.3),
        kelly_fraction: float = 0.5,
        drawdown_slack: float = 0.05,
        n_splits: int = 5,
        calm_below: float = 0.6,
        wild_above: float = 0.75,
    ):
        self.steps = steps
        self.kelly_fraction = kelly_fraction
        self.drawdown_slack = drawdown_slack
        self.n_splits = n_splits
        self.calm_below = calm_below
        self.wild_above = wild_above

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        features = context.features
        usable = np.isfinite(features.frame["outcome_efficiency"].to_numpy())
        trades = context.trades[usable]
        X = features.entry[usable]
        y = features.frame.loc[usable, "outcome_efficiency"]
        layout = feasible_folds(trades["entry_time"], trades["exit_time"], self.n_splits, min_train=2)
        model = make_regressor(seed=context.seed)
        try:
            if layout.splitter is None:
                raise PlaybookTunerError(layout.refused)
            self.report_: ModelReport = cross_validate(model, X, y, layout.splitter)
        except PlaybookTunerError as exc:
            why = f"its efficiency model cannot be cross-validated on this window ({len(trades)} trades): {exc}"
            return [NoProposal(self.name, regime, "leverage", why) for regime in REGIMES]
        with one_thread():
            self.model_ = model.fit(X, y.to_numpy())
        baseline = context.replay.baseline()
        outcomes: list[Proposal | NoProposal] = []
        for regime in REGIMES:
            in_regime = (trades["regime"] == regime).to_numpy()
            if not in_regime.any():
                outcomes.append(NoProposal(self.name, regime, "leverage", f"no trades in {regime}"))
                continue
            outcomes.append(self._regime(context, regime, X[in_regime], y[in_regime], baseline))
        return outcomes

    def fitted_models(self) -> dict[str, tuple[Any, ModelReport]]:
        """The efficiency model of the last :meth:`propose`."""
        return {"leverage-efficiency": (self.model_, self.report_)} if hasattr(self, "model_") else {}

    def _regime(
        self, context: TuningContext, regime: str, X: pd.DataFrame, efficiency: pd.Series, baseline: pd.Series
    ) -> Proposal | NoProposal:
        params = context.playbook.parameters_for(regime)
        current = params.leverage
        ceiling = self._kelly_ceiling(efficiency.to_numpy(), params.position_size)
        with one_thread():
            predicted = float(self.model_.predict(X).mean())
        realised = float(efficiency.mean())
        win_rate = float((efficiency > 0).mean())
        volatility = float(np.nanmean(X["market_atr_rank"])) if X["market_atr_rank"].notna().any() else 0.5
        if predicted > 0 and realised > 0 and volatility < self.calm_below:
            direction, steps = "up", [s for s in self.steps if s > 1]
        elif predicted <= 0 or realised <= 0 or volatility > self.wild_above:
            direction, steps = "down", [s for s in self.steps if s < 1]
        else:
            direction, steps = "either way", list(self.steps)
        grid = [round(current * s, 4) for s in steps if current * s <= ceiling]
        if not grid:
            return NoProposal(
                self.name,
                regime,
                "leverage",
                f"every {direction} step exceeds the Kelly ceiling {ceiling:.2f}",
            )
        metrics = context.replay.evaluate([[ParameterChange(regime, "leverage", v)] for v in grid])
        safe = metrics.assign(leverage=grid)[
            (metrics["liquidations"] <= baseline["liquidations"])
            & (metrics["max_drawdown"] >= baseline["max_drawdown"] - self.drawdown_slack)
            & (metrics["log_growth"] > baseline["log_growth"])
        ].sort_values("log_growth", ascending=False)
        if safe.empty:
            return NoProposal(
                self.name, regime, "leverage",
                f"no {direction} leverage beats {current:g} in {regime} on replayed log growth "
                "without more drawdown or liquidations",
            )  # fmt: skip
        best = safe.iloc[0]
        return Proposal(
            tuner=self.name,
            regime=regime,
            parameter="leverage",
            current=current,
            candidates=tuple(float(v) for v in safe["leverage"]),
            confidence=float(np.clip(self.report_.r2 + 0.5, 0.0, 1.0)),
            rationale=(
                f"{regime}: efficiency {realised:.2%} realised, {predicted:.2%} predicted, win rate "
                f"{win_rate:.0%}, volatility rank {volatility:.2f} -> look {direction}; "
                f"leverage {best['leverage']:g} replays to log growth "
                f"{best['log_growth']:.3f} vs {baseline['log_growth']:.3f}, max drawdown "
                f"{best['max_drawdown']:.1%} vs {baseline['max_drawdown']:.1%}; Kelly ceiling {ceiling:.2f}"
            ),
            n_trials=len(grid),
            model=self.report_,
        )

    def _kelly_ceiling(self, efficiency: np.ndarray, position_size: float) -> float:
        """``kelly_fraction`` x the growth-optimal leverage: mean / variance of the account's per-trade
        return per unit of leverage (efficiency x position size)."""
        account = efficiency * position_size
        variance = float(account.var())
        if variance <= 0 or account.mean() <= 0:
            return 0.0 if account.mean() <= 0 else float("inf")
        return self.kelly_fraction * float(account.mean()) / variance
