"""What a decision on a tuning session is: its outcome, its errors, its actors.

Light to import (no playbook model, no pandas), so a channel can name outcomes and refusals without
loading the approval core; :mod:`framework.approval` takes the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from framework.errors import PlaybookTunerError
from framework.store import SessionRecord

ACTIONS = ("apply_all", "apply_safe", "apply_items", "reject_all", "reject_items", "expire")
"""What a decision did; ``expire`` is a session that lapsed (also when a decision found it lapsed)."""
AUTO_ACTOR = "auto"
"""Actor of :meth:`~framework.approval.Approvals.auto_apply` (``human_review_required = false``)."""
EXPIRY_ACTOR = "expiry"
"""Actor recorded when a session lapses."""
STALE = "stale, re-run tune"
SAFE_RISK = "low"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class DecisionError(PlaybookTunerError):
    """A decision cannot be taken as asked (unknown session or item, a change the playbook refuses,
    an unknown version to roll back to). Nothing was changed."""


class NothingToRollBack(DecisionError):
    """A rollback without a version found no change in effect to undo: the live text is the first version's."""


@dataclass(frozen=True)
class DecisionOutcome:
    """What one decision call did to a session.

    ``action`` is one of :data:`ACTIONS`: the action asked for, or ``expire`` when the call found the
    session lapsed. ``applied`` and ``rejected`` are the recommendation ids this call decided;
    ``unchanged`` those of the chosen items that had been decided before. ``new_version`` is the
    playbook version this call published (None when it applied nothing). ``message`` is one line for
    a human.
    """

    session_id: str
    action: str
    applied: tuple[str, ...]
    rejected: tuple[str, ...]
    unchanged: tuple[str, ...]
    new_version: int | None
    message: str

    @property
    def changed(self) -> bool:
        """Whether this call decided anything (False: refused, or nothing was left to decide)."""
        return bool(self.applied or self.rejected)


def is_overdue(session: SessionRecord, now: datetime) -> bool:
    """Whether ``session`` is still pending at or past its ``expires_at`` (UTC), so it is to be expired."""
    return session.status == "pending" and now >= session.expires_at


def awaiting_decision(sessions: Iterable[SessionRecord], now: datetime) -> list[SessionRecord]:
    """The sessions awaiting a decision at ``now``: status pending and not yet at ``expires_at``, in order."""
    return [s for s in sessions if s.status == "pending" and now < s.expires_at]


def checked_actor(actor: str) -> str:
    """``actor`` without surrounding spaces; a DecisionError when it is empty (a decision names who decides)."""
    if not actor or not actor.strip():
        raise DecisionError("a decision needs an actor (who decides); got an empty name")
    return actor.strip()
