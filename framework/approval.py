"""Decisions on a tuning session: apply or reject its recommendations, expire it, roll back a version.

Every decision the desk (:mod:`framework.desk`, for the CLI and the Telegram bot) takes goes through
:class:`Approvals`, which holds the rules:

- **Idempotent.** A recommendation is decided once; deciding it again changes nothing and the outcome
  lists it as ``unchanged`` (a double press of Apply All publishes one version). Setting the status is
  a claim (:meth:`~framework.store.Store.claim_recommendations`) on the items still pending, so of two
  calls deciding an item at the same time (the bot and the CLI) only one records it.
- **Stale.** A session's changes are edits of the playbook it was computed on. They are applied only
  while the live version is that one, or the last version this session's own decisions published; a
  hand edit of the live file is registered first and makes the session stale too. The publish repeats
  the check in its own transaction (``expected_parent``), so when another process published after the
  check the apply is stale as well. A stale apply changes nothing but an audit entry, and its message
  reads ``stale, re-run tune``.
- **Expired.** Past ``expires_at`` (by the injected clock) a pending session and its pending items
  become ``expired`` and every decision on them is refused.
- **One version per call.** The chosen changes are applied together with
  :meth:`~framework.playbook.Playbook.with_changes` on the live text (comments survive) and published
  once through :meth:`~framework.store.Store.publish_playbook`. Each decided item gets a
  :class:`~framework.store.DecisionRecord`; the session becomes ``applied`` once no item is pending
  (``rejected`` when every item was rejected).
- **Errors change nothing.** An unknown session or item, or a change the playbook refuses (its bounds),
  raises :class:`~framework.decisions.DecisionError` before anything is written.

What a decision returns and raises (:class:`~framework.decisions.DecisionOutcome`, the errors, the
actors) is in :mod:`framework.decisions`, importable without the playbook model; the names are
re-exported here. The live-file side (which version is live, a session's changes as an edit of its
text, the publish, rollback) is :class:`~framework.publishing.LiveFile`'s; this module holds the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from framework.decisions import (
    AUTO_ACTOR,
    EXPIRY_ACTOR,
    SAFE_RISK,
    STALE,
    DecisionError,
    DecisionOutcome,
    NothingToRollBack,
    awaiting_decision,
    checked_actor,
    is_overdue,
    utc_now,
)
from framework.errors import StoreError
from framework.formatting import utc_text
from framework.publishing import LiveFile, Stale, playbook_changes
from framework.store import DecisionRecord, ParentMoved, PlaybookVersion, RecommendationRecord, SessionRecord, Store

__all__ = [
    "AUTO_ACTOR",
    "EXPIRY_ACTOR",
    "SAFE_RISK",
    "STALE",
    "Approvals",
    "DecisionError",
    "DecisionOutcome",
    "NothingToRollBack",
    "utc_now",
]


class Approvals:
    """Takes decisions on the tuning sessions of ``store`` whose changes go to the ``live_playbook``
    file the bot reads. ``clock`` gives the current UTC time (injectable for tests)."""

    def __init__(self, store: Store, live_playbook: Path, *, clock: Callable[[], datetime] = utc_now):
        self.store = store
        self.live_playbook = Path(live_playbook)
        self.live = LiveFile(store, self.live_playbook)
        self.clock = clock

    # --- decisions -------------------------------------------------------------------------------

    def apply_all(self, session_id: str, actor: str) -> DecisionOutcome:
        """Apply every pending recommendation of the session as one new playbook version."""
        return self._apply(session_id, actor, "apply_all", None, safe_only=False)

    def apply_safe(self, session_id: str, actor: str) -> DecisionOutcome:
        """Apply the pending low-risk recommendations; the others stay pending for review."""
        return self._apply(session_id, actor, "apply_safe", None, safe_only=True)

    def apply_items(
        self, session_id: str, item_ids: Iterable[str], actor: str, *, safe_only: bool = False
    ) -> DecisionOutcome:
        """Apply the named recommendations of the session (those still pending) as one new version;
        with ``safe_only``, only the low-risk ones among them (the others stay pending)."""
        return self._apply(session_id, actor, "apply_items", item_ids, safe_only=safe_only)

    def reject_all(self, session_id: str, actor: str) -> DecisionOutcome:
        """Reject every pending recommendation of the session; the playbook is not touched."""
        return self._reject(session_id, actor, "reject_all", None)

    def reject_items(self, session_id: str, item_ids: Iterable[str], actor: str) -> DecisionOutcome:
        """Reject the named recommendations of the session (those still pending)."""
        return self._reject(session_id, actor, "reject_items", item_ids)

    def auto_apply(self, session_id: str) -> DecisionOutcome:
        """Apply the pending low-risk recommendations as actor :data:`AUTO_ACTOR`.

        For ``human_review_required = false``; the caller checks that setting. Medium- and high-risk
        items stay pending for a human.
        """
        return self._apply(session_id, AUTO_ACTOR, "apply_safe", None, safe_only=True)

    def expire_overdue(self) -> list[str]:
        """Mark every pending session at or past its ``expires_at`` expired (with its pending items);
        returns their ids, oldest first."""
        now = self.clock()
        expired: list[str] = []
        for session in self.store.sessions():
            if is_overdue(session, now):
                self._expire(session, self.store.recommendations(session.id), now)
                expired.append(session.id)
        return expired

    def pending(self) -> list[SessionRecord]:
        """Sessions awaiting a decision: status pending and not yet at ``expires_at``, oldest first."""
        return awaiting_decision(self.store.sessions(), self.clock())

    def undo_target(self) -> int:
        """The version a rollback without a version returns to (:meth:`LiveFile.undo_target
        <framework.publishing.LiveFile.undo_target>`): the one before the newest change still in effect."""
        return self.live.undo_target()

    def rollback(self, version: int, actor: str, reason: str, *, expected_live: int | None = None) -> int:
        """Publish the text of the earlier ``version`` again as a new version; returns its number
        (:meth:`LiveFile.rollback <framework.publishing.LiveFile.rollback>`)."""
        return self.live.rollback(version, actor, reason, expected_live=expected_live)

    # --- internals -------------------------------------------------------------------------------

    def _apply(
        self, session_id: str, actor: str, action: str, item_ids: Iterable[str] | None, *, safe_only: bool
    ) -> DecisionOutcome:
        actor = checked_actor(actor)
        session, recommendations = self._load(session_id)
        chosen = _choose(session, recommendations, item_ids, self._owners)
        # Items named but not low risk are said to stay pending; a whole-session safe apply counts them as left.
        named = safe_only and item_ids is not None
        risky = [rec for rec in chosen if rec.risk != SAFE_RISK and rec.status == "pending"] if named else []
        if safe_only:
            chosen = [rec for rec in chosen if rec.risk == SAFE_RISK]
        lapsed = self._refuse_if_lapsed(session, recommendations, chosen)
        if lapsed is not None:
            return lapsed
        chosen_ids = set(_ids(chosen))
        left = sum(rec.status == "pending" and rec.id not in chosen_ids for rec in recommendations)
        todo = [rec for rec in chosen if rec.status == "pending"]
        if not todo:
            return _nothing_to_apply(session, action, chosen, left, risky)
        playbook_changes(todo)  # a bad value, or two items on one key, is refused before anything is written

        live, stale = self._live_version_for(session)
        if stale is not None:
            return self._stale(session, action, actor, todo, stale)
        # Read after the decisions _live_version_for read: a call that applied items of this session
        # meanwhile claimed them before recording those decisions, so they show as decided here
        # instead of being applied a second time.
        pending = {rec.id for rec in self.store.recommendations(session.id) if rec.status == "pending"}
        if any(rec.id not in pending for rec in todo):
            todo = [rec for rec in todo if rec.id in pending]
            if not todo:
                return _nothing_to_apply(session, action, chosen, left, risky)
        edited = self.live.edit(live, todo, session.id)
        if isinstance(edited, Stale):
            return self._stale(session, action, actor, todo, edited.why)

        try:
            published = self.live.publish(
                edited,
                author=actor,
                reason=f"session {session.id}, {action}: {', '.join(_ids(todo))}",
                expected_parent=live.version,
            )
        except ParentMoved as exc:
            why = f"version {exc.actual} was published meanwhile (version {live.version} was live when checked)"
            return self._stale(session, action, actor, todo, why)
        applied = self._record(session, todo, "applied", action, actor, published.version)
        unchanged = _ids(rec for rec in chosen if rec.id not in applied)
        # Items a rejection (or expiry) claimed after the check: the published version holds their
        # changes all the same, and the message says so.
        overtaken = tuple(rec.id for rec in todo if rec.id not in applied)
        noun = "change" if len(applied) == 1 else "changes"
        message = _join(
            f"applied {len(applied)} {noun} as version {published.version}",
            _decided_note(unchanged),
            _overtaken_note(overtaken, published.version),
            _risky_note(risky),
            _left_note(left),
        )
        return DecisionOutcome(session.id, action, applied, (), unchanged, published.version, message)

    def _reject(self, session_id: str, actor: str, action: str, item_ids: Iterable[str] | None) -> DecisionOutcome:
        actor = checked_actor(actor)
        session, recommendations = self._load(session_id)
        chosen = _choose(session, recommendations, item_ids, self._owners)
        lapsed = self._refuse_if_lapsed(session, recommendations, chosen)
        if lapsed is not None:
            return lapsed
        todo = [rec for rec in chosen if rec.status == "pending"]
        rejected = self._record(session, todo, "rejected", action, actor, None)
        unchanged = _ids(rec for rec in chosen if rec.id not in rejected)
        if not rejected:
            message = _join("nothing to reject", _decided_note(unchanged))
            return DecisionOutcome(session.id, action, (), (), unchanged, None, message)
        noun = "item" if len(rejected) == 1 else "items"
        message = _join(f"rejected {len(rejected)} {noun}", _decided_note(unchanged))
        return DecisionOutcome(session.id, action, (), rejected, unchanged, None, message)

    def _load(self, session_id: str) -> tuple[SessionRecord, list[RecommendationRecord]]:
        try:
            session = self.store.session(session_id)
        except StoreError as exc:
            raise DecisionError(str(exc)) from exc
        return session, self.store.recommendations(session_id)

    def _owners(self, item_id: str, besides: str) -> list[str]:
        """Ids of the sessions other than ``besides`` that hold an item ``item_id``."""
        return [
            other.id
            for other in self.store.sessions()
            if other.id != besides and any(rec.id == item_id for rec in self.store.recommendations(other.id))
        ]

    def _refuse_if_lapsed(
        self,
        session: SessionRecord,
        recommendations: list[RecommendationRecord],
        chosen: list[RecommendationRecord],
    ) -> DecisionOutcome | None:
        """The refusal of a decision on an expired session (expiring it when it is overdue), or None."""
        if session.status == "pending":
            now = self.clock()
            if now < session.expires_at:
                return None
            self._expire(session, recommendations, now)
        elif session.status != "expired":
            return None
        unchanged = _ids(rec for rec in chosen if rec.status in ("applied", "rejected"))
        when = utc_text(session.expires_at)
        message = f"expired at {when}, re-run tune"
        return DecisionOutcome(session.id, "expire", (), (), unchanged, None, message)

    def _expire(self, session: SessionRecord, recommendations: list[RecommendationRecord], now: datetime) -> None:
        pending = _ids(rec for rec in recommendations if rec.status == "pending")
        lapsed = self.store.claim_recommendations(session.id, pending, "expired")
        self.store.set_session_status(session.id, "expired")
        self.store.record_decision(DecisionRecord(session.id, None, "expire", EXPIRY_ACTOR, now, None))
        self.store.audit(
            EXPIRY_ACTOR,
            "session_expired",
            {"session": session.id, "expires_at": session.expires_at.isoformat(), "items": lapsed},
        )

    def _live_version_for(self, session: SessionRecord) -> tuple[PlaybookVersion, str | None]:
        """The live version (a hand edit of the live file registered first) and why the session is
        stale, or None when its changes apply to that version: the last one its own decisions
        published, else the one it was computed on."""
        # Decisions before the live version: a version they name is then live already, and the items
        # claimed before those decisions were recorded show as decided when _apply reads them next.
        published = [d.result_version for d in self.store.decisions(session.id) if d.result_version is not None]
        expected = published[-1] if published else session.playbook_version
        return self.live.check(expected)

    def _stale(
        self, session: SessionRecord, action: str, actor: str, todo: list[RecommendationRecord], why: str
    ) -> DecisionOutcome:
        self.store.audit(
            actor,
            "decision_refused",
            {"session": session.id, "action": action, "items": _ids(todo), "reason": STALE, "detail": why},
        )
        return DecisionOutcome(session.id, action, (), (), (), None, f"{STALE}: {why}")

    def _record(
        self,
        session: SessionRecord,
        decided: list[RecommendationRecord],
        status: str,
        action: str,
        actor: str,
        version: int | None,
    ) -> tuple[str, ...]:
        """Claim those of the decided items still pending, record a decision per claimed item, settle
        the session, audit; returns the claimed ids in the session's order. Claiming none writes nothing more."""
        # The claim goes first: if the process dies after it, a retry finds the items decided (or the
        # session stale) instead of applying them a second time.
        claimed = tuple(self.store.claim_recommendations(session.id, _ids(decided), status))
        if not claimed:
            return ()
        now = self.clock()
        for rec_id in claimed:
            self.store.record_decision(DecisionRecord(session.id, rec_id, action, actor, now, version))
        # Read again: another call may have decided the session's other items meanwhile.
        statuses = [rec.status for rec in self.store.recommendations(session.id)]
        session_status = session.status
        if "pending" not in statuses:
            session_status = "rejected" if all(s == "rejected" for s in statuses) else "applied"
            self.store.set_session_status(session.id, session_status)
        self.store.audit(
            actor,
            "decision",
            {
                "session": session.id,
                "action": action,
                "status": status,
                "items": sorted(claimed),
                "version": version,
                "session_status": session_status,
            },
        )
        return claimed


def _choose(
    session: SessionRecord,
    recommendations: list[RecommendationRecord],
    item_ids: Iterable[str] | None,
    owners: Callable[[str, str], list[str]],
) -> list[RecommendationRecord]:
    """The recommendations named by ``item_ids`` (all when None), in the session's order."""
    if item_ids is None:
        return list(recommendations)
    wanted = list(dict.fromkeys(item_ids))
    if not wanted:
        raise DecisionError(f"name at least one item of session {session.id}")
    known = {rec.id for rec in recommendations}
    unknown = [item for item in wanted if item not in known]
    if unknown:
        notes = []
        for item in unknown:
            elsewhere = owners(item, session.id)
            notes.append(f"{item} (an item of session {', '.join(elsewhere)})" if elsewhere else item)
        items = ", ".join(sorted(known)) or "none"
        raise DecisionError(
            f"session {session.id} has no item {', '.join(notes)}; its items are: {items}. Nothing was changed"
        )
    return [rec for rec in recommendations if rec.id in wanted]


def _ids(recs: Iterable[RecommendationRecord]) -> tuple[str, ...]:
    return tuple(rec.id for rec in recs)


def _nothing_to_apply(
    session: SessionRecord,
    action: str,
    chosen: list[RecommendationRecord],
    left: int,
    risky: list[RecommendationRecord],
) -> DecisionOutcome:
    """The outcome of an apply with nothing left to apply: its chosen items are decided already, or
    safe-only left none."""
    unchanged = _ids(chosen)
    message = _join("nothing to apply", _decided_note(unchanged), _risky_note(risky), _left_note(left))
    return DecisionOutcome(session.id, action, (), (), unchanged, None, message)


def _risky_note(risky: list[RecommendationRecord]) -> str:
    if not risky:
        return ""
    named = ", ".join(f"{rec.id} ({rec.risk} risk)" for rec in risky)
    return f"safe-only applies low-risk changes only, not {named}"


def _overtaken_note(overtaken: tuple[str, ...], version: int) -> str:
    if not overtaken:
        return ""
    verb, held = ("was", "its change") if len(overtaken) == 1 else ("were", "their changes")
    return f"{', '.join(overtaken)} {verb} decided meanwhile by another call, yet version {version} holds {held}"


def _decided_note(unchanged: tuple[str, ...]) -> str:
    return f"{len(unchanged)} already decided" if unchanged else ""


def _left_note(left: int) -> str:
    return f"{left} left pending for review" if left else ""


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
