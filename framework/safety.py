"""Safety rules applied to every proposal before it is replayed: bounds, the largest change per
session, the minimum number of trades, and a risk class per candidate value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.playbook import DEFAULT_REGIME, SPECS, STRATEGY_WEIGHTS, Playbook
from framework.tuners.base import NoProposal, Proposal

WEIGHT_BOUNDS = (0.0, 5.0)
"""Bounds of a strategy weight (the playbook's ``bounds`` cover the regime parameters only)."""


@dataclass(frozen=True)
class SafeProposal:
    """A proposal after the rules: the candidate values that survived, each with its risk class.

    ``notes`` says what the rules changed (a value clipped to a bound or capped at the largest change).
    """

    proposal: Proposal
    candidates: tuple[float, ...]
    risks: tuple[str, ...]
    notes: tuple[str, ...]
    uncapped: tuple[float, ...] = ()
    """Each candidate before the change cap (inside the bounds): what the tuner's evidence points at.
    The gate judges the direction on it; the capped candidate is what a session may change."""

    @property
    def direction_values(self) -> tuple[float, ...]:
        return self.uncapped or self.candidates


@dataclass(frozen=True)
class Refusal:
    """A proposal (or a tuner's non-proposal) that will not be replayed, and why."""

    tuner: str
    regime: str
    parameter: str
    reason: str


def apply_safety(
    outcomes: Sequence[Proposal | NoProposal], playbook: Playbook, trades: pd.DataFrame, settings: Settings
) -> tuple[list[SafeProposal], list[Refusal]]:
    """Apply the rules to tuners' outcomes over the training ``trades``.

    - a block with fewer than ``min_trades_for_tuning`` trades gets no change ("not enough trades");
    - candidates are clipped into the playbook's bounds, then capped at ``max_parameter_change`` relative
      change (relative to the bound range when the current value is 0);
    - a candidate equal to the current value, or to an earlier candidate, is dropped.
    """
    accepted: list[SafeProposal] = []
    refused: list[Refusal] = []
    for outcome in outcomes:
        if isinstance(outcome, NoProposal):
            refused.append(Refusal(outcome.tuner, outcome.regime, outcome.parameter, outcome.reason))
            continue
        count = int(reached_trades(trades, outcome.regime, outcome.parameter).sum())
        if count < settings.min_trades_for_tuning:
            where = outcome.parameter if outcome.regime == STRATEGY_WEIGHTS else outcome.regime
            reason = (
                f"not enough trades in {where} to tune it (n={count} in the training window, "
                f"need {settings.min_trades_for_tuning}: min_trades_for_tuning)"
            )
            refused.append(Refusal(outcome.tuner, outcome.regime, outcome.parameter, reason))
            continue
        low, high = _bounds(outcome, playbook)
        candidates: list[float] = []
        uncapped: list[float] = []
        notes: list[str] = []
        for raw in outcome.candidates:
            value = min(max(raw, low), high)
            if value != raw:
                notes.append(f"{raw:g} clipped to the bound {value:g}")
            capped = _cap(outcome.current, value, settings.max_parameter_change, high - low)
            if capped != value:
                notes.append(f"{value:g} capped at {settings.max_parameter_change:.0%} change: {capped:g}")
            if capped != outcome.current and capped not in candidates:
                candidates.append(capped)
                uncapped.append(value)
        if not candidates:
            reason = "no candidate differs from the current value after bounds and the change cap"
            refused.append(Refusal(outcome.tuner, outcome.regime, outcome.parameter, reason))
            continue
        risks = tuple(risk_class(outcome.parameter, outcome.regime, outcome.current, c) for c in candidates)
        accepted.append(SafeProposal(outcome, tuple(candidates), risks, tuple(notes), tuple(uncapped)))
    return accepted, refused


def as_written(proposal: Proposal) -> SafeProposal:
    """A proposal passed through without the rules (a hand-written playbook's change), risk classed."""
    risks = tuple(risk_class(proposal.parameter, proposal.regime, proposal.current, c) for c in proposal.candidates)
    return SafeProposal(proposal, proposal.candidates, risks, ("as written: safety rules not applied",))


def relative_change(current: float, proposed: float, bound_range: float) -> float:
    """Signed change as a fraction of the current value (of the bound range when the current is 0)."""
    scale = abs(current) if current != 0 else bound_range
    return (proposed - current) / scale if scale > 0 else 0.0


def risk_class(parameter: str, regime: str, current: float, proposed: float) -> str:
    """low / medium / high from the size of the change and whether it adds risk.

    A change that adds risk (the schema's ``risk_direction``: more leverage, a larger position or
    strategy weight, a wider stop, a lower confidence threshold) is medium up to 20 % and high beyond:
    a leverage increase is never low risk. One that removes risk is low up to 20 % and medium beyond.
    Others (the risk/reward ratio) are low up to 10 %, medium up to 20 %, high beyond.
    """
    change = round(relative_change(current, proposed, 1.0), 9)  # 0.1 -> 0.08 is a 20 % change, exactly
    small, moderate = abs(change) <= 0.10, abs(change) <= 0.20
    direction = 1 if regime == STRATEGY_WEIGHTS else SPECS[parameter].risk_direction
    if direction == 0:
        return "low" if small else "medium" if moderate else "high"
    if change * direction > 0:
        return "medium" if moderate else "high"
    return "low" if moderate else "medium"


def reached_trades(trades: pd.DataFrame, block: str, parameter: str) -> np.ndarray:
    """Which ``trades`` a change of ``block``'s ``parameter`` is counted on (boolean mask): a strategy's
    trades for its weight, every trade for the default block, else the trades of that regime."""
    if block == STRATEGY_WEIGHTS:
        return (trades["strategy"] == parameter).to_numpy()
    if block == DEFAULT_REGIME:
        return np.ones(len(trades), dtype=bool)
    return (trades["regime"] == block).to_numpy()


def _bounds(proposal: Proposal, playbook: Playbook) -> tuple[float, float]:
    if proposal.regime == STRATEGY_WEIGHTS:
        return WEIGHT_BOUNDS
    return playbook.bounds[proposal.parameter]


def _cap(current: float, value: float, largest: float, bound_range: float) -> float:
    step = (abs(current) if current != 0 else bound_range) * largest
    return min(max(value, current - step), current + step)
