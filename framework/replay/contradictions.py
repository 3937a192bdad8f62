"""Where a playbook's replay contradicts the trade log it replays.

A replay is a counterfactual of the bot's own trades; it is only *the bot's* trading when the playbook
says what the bot did. The clearest contradiction: the replay ends a trade at the playbook's stop or
take-profit or ROI table *before* the bot's own exit, so the bot held that trade through a price its playbook says
it would have left at. Many such trades mean the playbook is not the bot's (a freqtrade strategy's
``stoploss`` and ROI table, say, written as other levels), and every figure of the replay and of a tune
on it answers another question than the user's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# The replay's level exits by kind: a take-profit and an ROI exit are both a profit target, counted as
# one kind, so either one logged later does not contradict the other replayed early.
_LEVELS = {"stop_loss": ("stop_loss",), "take_profit": ("take_profit", "roi")}


@dataclass(frozen=True)
class Contradictions:
    """Per level, how many taken trades the replay ended there before the logged exit, of ``taken``
    (``take_profit``: the profit targets, a take-profit or an ROI exit)."""

    taken: int
    early: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.early.values())

    def warning(self) -> str | None:
        """What to tell the user, or None when nothing contradicts the log."""
        if self.total == 0:
            return None
        parts = ", ".join(f"{reason} {count}" for reason, count in self.early.items() if count)
        return (
            f"the playbook contradicts the trade log: on {self.total} of {self.taken} trades the replay exits "
            f"before the bot did ({parts}), at levels the bot held through; write the playbook from the "
            "bot's own settings (its stop, ROI table, targets and trailing stop) or the replay is not how it trades"
        )


def contradictions(trades: pd.DataFrame, outcomes: pd.DataFrame) -> Contradictions:
    """Compare a canonical trade log with its replay (:meth:`SweepResult.trades`, same row order)."""
    taken = outcomes["taken"].to_numpy(bool)
    before = (outcomes["exit_time"].reset_index(drop=True) < trades["exit_time"].reset_index(drop=True)).to_numpy()
    logged = trades["exit_reason"].to_numpy(dtype=object)
    replayed = outcomes["exit_reason"].to_numpy(dtype=object)
    early = {
        level: int((taken & before & np.isin(replayed, kind) & ~np.isin(logged, kind)).sum())
        for level, kind in _LEVELS.items()
    }
    return Contradictions(taken=int(taken.sum()), early=early)
