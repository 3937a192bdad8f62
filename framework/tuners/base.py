"""The tuner interface: what a tuner sees, what it returns, and when it is called.

A tuner proposes parameter changes for a playbook from the bot's own trades. It knows nothing of
validation, sessions or Telegram: the pipeline applies the safety rules to what it proposes, replays
every candidate out of sample and lets only validated changes through.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from framework.config import ReplaySettings, Settings
from framework.features import FeatureSet
from framework.market import Market
from framework.models import ModelReport
from framework.playbook import DEFAULT_REGIME, ParameterChange, Playbook
from framework.replay import ReplayInputs, replay_tables, tables_for_changes
from framework.search import DataRef


@dataclass(frozen=True)
class Proposal:
    """Candidate values for one parameter of one playbook block.

    ``regime`` is ``"default"``, a regime name, or ``"strategy_weights"`` (then ``parameter`` names a
    strategy). ``candidates`` are best first; the validation gate replays each. ``n_trials`` counts every
    value the tuner tried to arrive at them (the gate corrects for it). ``confidence`` (0-1) is the
    tuner's own; the recommendation's confidence comes from validation.
    """

    tuner: str
    regime: str
    parameter: str
    current: float
    candidates: tuple[float, ...]
    confidence: float
    rationale: str
    n_trials: int = 1
    model: ModelReport | None = None

    def changes(self, candidate: float) -> list[ParameterChange]:
        """The playbook change that sets this parameter to ``candidate``."""
        return [ParameterChange(self.regime, self.parameter, candidate)]


@dataclass(frozen=True)
class NoProposal:
    """A tuner's answer when it proposes nothing for a block, and why (thin data is an answer)."""

    tuner: str
    regime: str
    parameter: str
    reason: str


class ReplayHandle:
    """Replays changes of the current playbook over the context's trades (a training window)."""

    def __init__(self, inputs: ReplayInputs, playbook: Playbook, settings: ReplaySettings):
        self.inputs = inputs
        self.playbook = playbook
        self.settings = settings
        self.evaluations = 0

    def evaluate(self, change_sets: Sequence[Sequence[ParameterChange]]) -> pd.DataFrame:
        """Metrics (one row per change set; see ``framework.replay.kernels.METRIC_NAMES``)."""
        tables = tables_for_changes(self.inputs, self.playbook, change_sets)
        self.evaluations += len(change_sets)
        return replay_tables(self.inputs, tables, self.settings).metrics

    def baseline(self) -> pd.Series:
        """Metrics of the current playbook."""
        return self.evaluate([[]]).iloc[0]


@dataclass
class TuningContext:
    """Everything a tuner may look at. All of it is inside the training window.

    ``trades`` is the canonical trade log of the window with ``regime`` filled; ``features`` has one
    row per trade (same index); ``signals`` is the signal log of the window, or None. When signals are
    given, ``replay`` also holds the signals the bot did not take, so a lower threshold can be judged.
    """

    trades: pd.DataFrame
    features: FeatureSet
    playbook: Playbook
    market: Market
    settings: Settings
    replay: ReplayHandle
    signals: pd.DataFrame | None = None
    seed: int = 0
    search_storage: str | None = None
    data_ref: DataRef | None = None
    """Where the window's data lives on disk, so that search workers elsewhere can rebuild it."""
    study_suffix: str = ""
    """End search study names with it. The gate sets it to a digest of each window, so that in a shared
    ``search_storage`` every fold and the final pass has a study of its own, and a tune run again on the
    same data finds its studies again; ``propose`` leaves it empty (the names workers are told to join)."""

    def trades_in(self, regime: str) -> pd.DataFrame:
        """Trades of ``regime`` (all trades for ``"default"``)."""
        if regime == DEFAULT_REGIME:
            return self.trades
        return self.trades[self.trades["regime"] == regime]


class Tuner(ABC):
    """Base class of every tuner, built-in or yours.

    Lifecycle (the pipeline drives it; a tuner never calls the pipeline):

    1. The pipeline constructs the tuner once per run with the options from the configuration. The
       constructor only stores them (as scikit-learn estimators do), so :meth:`get_params` reproduces it.
    2. For each training window (walk-forward folds, then the full window) it calls :meth:`propose`
       with a fresh :class:`TuningContext`. Fit whatever you learn there and keep learned state in
       attributes ending in ``_``; never look at data outside the context, so that validation stays
       out of sample. Use ``context.seed`` for anything random.
    3. ``propose`` returns :class:`Proposal` s (one or more candidate values per block and parameter)
       and :class:`NoProposal` s (why nothing was proposed). Candidates may be judged with
       ``context.replay.evaluate``; count them in ``n_trials``.

    The safety rules (bounds, the largest change per session, the minimum trade count) are applied
    afterwards: a tuner need not enforce them, though it may.
    """

    name: ClassVar[str]
    parameters: ClassVar[tuple[str, ...]]
    """The playbook parameters this tuner may propose changes for."""

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments as this tuner holds them (same-named attributes)."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        }

    @abstractmethod
    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        """Proposals for the context's training window."""

    def fitted_models(self) -> dict[str, tuple[Any, ModelReport]]:
        """Models fitted by the last :meth:`propose`, by name, with their reports, for the pipeline
        to persist (none by default)."""
        return {}
