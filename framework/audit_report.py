"""The post-apply audit as one typed model: what :mod:`framework.audit` computes, the store keeps and the
CLI, the bot and the dashboard render.

For every applied playbook version, the trades the bot made while it was live are replayed under the
version it replaced, on the same candles, and compared per trade (:class:`Realised`), next to what the
session that proposed it predicted (:class:`Prediction`). The test is chosen before the data is looked
at: a version whose changes the gate judged by their return on margin (stop, target, maximum hold) is
judged again on that; any other version on each trade's contribution to the account's log growth. Both
are one-sided 5 % tests (:attr:`AuditSettings.alpha`), the trades clustered by day as the gate does.

A version's :attr:`~VersionAudit.verdict`:

- ``worse``: it underperforms the version it replaced, with evidence. The only verdict that raises an
  alert; nothing is ever rolled back without a person pressing **Roll back** or running ``rollback``.
- ``better``: it outperforms it, with evidence.
- ``no_better``: enough trades that the predicted effect would have shown by now, and it did not.
- ``young``: too few trades to tell yet; :attr:`~VersionAudit.judgeable_at` says when there will be
  enough at the effect measured so far (None: not at this effect, which is too small to ever tell).
- ``unaudited``: nothing to replay (no trade while it was live, no version before it, or the candles
  do not cover its trades); :attr:`~VersionAudit.note` says which.

This module needs pydantic only (no pandas), like :mod:`framework.session`.
"""

from __future__ import annotations

from typing import Literal

from framework.formatting import underperforms_text
from framework.session import Number, UtcTime, Value, _Part

VERDICTS = ("worse", "better", "no_better", "young", "unaudited")
Verdict = Literal["worse", "better", "no_better", "young", "unaudited"]
JUDGED = ("worse", "better", "no_better")
"""The verdicts that count in the recommendation accuracy."""


class AuditedChange(_Part):
    """One parameter the version changed, from the value it replaced to its own."""

    regime: str
    parameter: str
    before: Value
    after: Value


class Prediction(_Part):
    """What the gate measured for the version's changes out of sample, in the session that proposed it."""

    session_id: str
    items: tuple[str, ...]
    kind: str
    """The gate's test: ``growth``, ``return`` or ``quality`` (see :mod:`framework.judging`)."""
    effect: Number
    """Mean effect per trade the gate measured; None when the version's changes were judged on
    different tests (no one number predicts the version)."""
    interval: tuple[Number, Number] = (None, None)


class Side(_Part):
    """A replay of the live trades under one version."""

    trades_taken: int
    log_growth: Number
    total_return: Number
    max_drawdown: Number


class Realised(_Part):
    """The live trades under the version against the same trades under the version it replaced."""

    kind: Literal["growth", "return"]
    trades: int
    """Trades compared: those either version takes."""
    days: float
    """Days from the version going live to the last exit compared."""
    effect: float
    """Mean paired difference per trade (version minus replaced); positive = the version did better."""
    interval: tuple[float, float]
    """The effect's 90 % interval (one-sided 95 % either way)."""
    p_better: float
    p_worse: float
    clusters: int
    version: Side
    replaced: Side


class VersionAudit(_Part):
    """One applied version, audited on the trades made while it was live."""

    version: int
    replaced: int | None
    live_from: UtcTime
    live_until: UtcTime | None
    """When the next version replaced it; None: it is live."""
    author: str
    reason: str
    changes: tuple[AuditedChange, ...] = ()
    prediction: Prediction | None = None
    realised: Realised | None = None
    verdict: Verdict
    judgeable_at: UtcTime | None = None
    note: str
    """One sentence: why this verdict."""

    @property
    def flagged(self) -> bool:
        """Underperforms the version it replaced, with evidence."""
        return self.verdict == "worse"

    def underperformance(self, *, live_since: bool = False) -> str:
        """The finding of a flagged version, as the channels show it (with when it went live)."""
        realised = self.realised
        if realised is None:  # a flagged version always has its evidence; say what there is
            return f"version {self.version} underperforms version {self.replaced}, which it replaced: {self.note}"
        return underperforms_text(
            self.version, self.replaced, realised.kind, realised.effect, realised.interval, realised.trades,
            live_from=self.live_from if live_since else None,
        )  # fmt: skip


class Accuracy(_Part):
    """Recommendation accuracy: the share of judged versions that did better than the version they replaced."""

    judged: int
    better: int
    worse: int
    no_better: int
    young: int
    unaudited: int
    share_better: Number
    """better / judged; None when nothing is judged yet."""


class ParameterStability(_Part):
    """How one parameter's recommended value moved across sessions (each session's tuners' proposal,
    validated or not), oldest first."""

    regime: str
    parameter: str
    sessions: tuple[str, ...]
    times: tuple[UtcTime, ...]
    values: tuple[float, ...]
    mean_move: Number
    """Mean absolute change between consecutive sessions, relative to the earlier value."""
    reversals: int
    """Times the direction of the recommended change flipped from one session to the next."""


class AuditReport(_Part):
    """One audit of every applied version, with the accuracy over them and the parameters' stability."""

    audited_at: UtcTime
    live_version: int | None
    alpha: float
    min_trades: int
    versions: tuple[VersionAudit, ...] = ()
    accuracy: Accuracy
    stability: tuple[ParameterStability, ...] = ()

    def flagged(self) -> tuple[VersionAudit, ...]:
        """The versions that underperform the version they replaced, with evidence."""
        return tuple(audit for audit in self.versions if audit.flagged)

    def of(self, version: int) -> VersionAudit | None:
        return next((audit for audit in self.versions if audit.version == version), None)
