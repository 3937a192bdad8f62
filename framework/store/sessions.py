"""Tuning sessions, their recommendations and the decisions taken on them.

:meth:`Sessions.claim_recommendations` decides only the items still ``pending``, in one transaction, so
two deciders never both take one item. A session's and a recommendation's ``payload`` is stored as JSON
text; :mod:`framework.session` reads and writes what a tuning session holds in it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from framework.errors import StoreError
from framework.formatting import RISK_LEVELS
from framework.store.schema import Database, _iso, _json

STATUSES = ("pending", "applied", "rejected", "expired")
"""Lifecycle of a session and of each recommendation."""


@dataclass(frozen=True)
class SessionRecord:
    """A tuning session: computed on ``playbook_version``; its recommendations lapse at ``expires_at``.

    ``status`` is one of :data:`STATUSES`; ``payload`` is any JSON-serialisable dict.
    """

    id: str
    created_at: datetime
    expires_at: datetime
    status: str
    playbook_version: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class RecommendationRecord:
    """One proposed parameter change of a session; ``id`` is unique within its session.

    ``current`` and ``proposed`` are JSON values (a duration as text such as ``48h``); ``risk`` is one
    of :data:`framework.formatting.RISK_LEVELS`; ``confidence`` is in [0, 1]; ``payload`` holds the
    validation evidence and model metrics.
    """

    id: str
    session_id: str
    regime: str
    parameter: str
    current: Any
    proposed: Any
    risk: str
    confidence: float
    status: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class DecisionRecord:
    """Who did what to a session (``recommendation_id`` None) or to one recommendation, and when (UTC).

    ``result_version`` is the playbook version the decision published, if any.
    """

    session_id: str
    recommendation_id: str | None
    action: str
    actor: str
    created_at: datetime
    result_version: int | None


class Sessions(Database):
    """The sessions part of :class:`framework.store.Store`: save and read sessions, claim items, record decisions."""

    def save_session(self, session: SessionRecord, recommendations: Sequence[RecommendationRecord]) -> None:
        """Store a new session and its recommendations (kept in the given order) in one transaction."""
        _check_status(session.status, f"session {session.id}")
        seen: set[str] = set()
        for rec in recommendations:
            where = f"recommendation {rec.id} of session {session.id}"
            if rec.session_id != session.id:
                raise StoreError(f"{where} names session {rec.session_id}")
            if rec.id in seen:
                raise StoreError(f"{where} appears twice")
            seen.add(rec.id)
            _check_status(rec.status, where)
            if rec.risk not in RISK_LEVELS:
                raise StoreError(f"{where}: risk '{rec.risk}' is not one of {', '.join(RISK_LEVELS)}")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (session.id,)).fetchone():
                raise StoreError(f"session {session.id} is already saved")
            if not self._version_exists(db, session.playbook_version):
                raise StoreError(f"session {session.id}: no playbook version {session.playbook_version}")
            db.execute(
                "INSERT INTO sessions (id, created_at, expires_at, status, playbook_version, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    _iso(session.created_at),
                    _iso(session.expires_at),
                    session.status,
                    session.playbook_version,
                    _json(session.payload, f"payload of session {session.id}"),
                ),
            )
            db.executemany(
                "INSERT INTO recommendations (session_id, id, position, regime, parameter, current, proposed,"
                " risk, confidence, status, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        session.id,
                        rec.id,
                        position,
                        rec.regime,
                        rec.parameter,
                        _json(rec.current, f"current value of recommendation {rec.id}"),
                        _json(rec.proposed, f"proposed value of recommendation {rec.id}"),
                        rec.risk,
                        float(rec.confidence),
                        rec.status,
                        _json(rec.payload, f"payload of recommendation {rec.id}"),
                    )
                    for position, rec in enumerate(recommendations)
                ],
            )

    def session(self, session_id: str) -> SessionRecord:
        """The session ``session_id``; ``StoreError`` if unknown."""
        rows = self._query(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise StoreError(f"no session {session_id} in {self.path}")
        return _session_from_row(rows[0])

    def sessions(self, since: datetime | None = None) -> list[SessionRecord]:
        """Sessions created at or after ``since`` (all when None), oldest first."""
        if since is None:
            rows = self._query(f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY created_at, id")
        else:
            rows = self._query(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE created_at >= ? ORDER BY created_at, id",
                (_iso(since),),
            )
        return [_session_from_row(row) for row in rows]

    def recommendations(self, session_id: str) -> list[RecommendationRecord]:
        """The recommendations of session ``session_id`` in the order they were saved."""
        self.session(session_id)
        rows = self._query(
            "SELECT id, session_id, regime, parameter, current, proposed, risk, confidence, status, payload"
            " FROM recommendations WHERE session_id = ? ORDER BY position",
            (session_id,),
        )
        return [
            RecommendationRecord(
                id=row[0],
                session_id=row[1],
                regime=row[2],
                parameter=row[3],
                current=json.loads(row[4]),
                proposed=json.loads(row[5]),
                risk=row[6],
                confidence=row[7],
                status=row[8],
                payload=json.loads(row[9]),
            )
            for row in rows
        ]

    def set_session_status(self, session_id: str, status: str) -> None:
        """Set the status (one of :data:`STATUSES`) of session ``session_id``."""
        _check_status(status, f"session {session_id}")
        with self._transaction() as db:
            if db.execute("UPDATE sessions SET status = ? WHERE id = ?", (status, session_id)).rowcount != 1:
                raise StoreError(f"no session {session_id} in {self.path}")

    def claim_recommendations(self, session_id: str, ids: Iterable[str], status: str) -> list[str]:
        """Set ``status`` on those of ``ids`` that are still ``pending``, in one transaction; returns the
        ids it changed, in the order given.

        The claim of a decision: of two processes deciding one item at the same time, only one gets
        it back. ``status`` is a decided one of :data:`STATUSES` (not ``pending``). An id the session
        does not hold is a ``StoreError`` and nothing is changed.
        """
        _check_status(status, f"recommendations of session {session_id}")
        if status == "pending":
            raise StoreError(f"a claim on session {session_id} sets a decided status, not 'pending'")
        claimed: list[str] = []
        with self._transaction() as db:
            for rec_id in dict.fromkeys(ids):
                updated = db.execute(
                    "UPDATE recommendations SET status = ? WHERE session_id = ? AND id = ? AND status = 'pending'",
                    (status, session_id, rec_id),
                ).rowcount
                if updated == 1:
                    claimed.append(rec_id)
                elif not db.execute(
                    "SELECT 1 FROM recommendations WHERE session_id = ? AND id = ?", (session_id, rec_id)
                ).fetchone():
                    raise StoreError(f"no recommendation {rec_id} in session {session_id}")
        return claimed

    def record_decision(self, decision: DecisionRecord) -> None:
        """Record a decision; its session, recommendation and result version must exist."""
        with self._transaction() as db:
            if not db.execute("SELECT 1 FROM sessions WHERE id = ?", (decision.session_id,)).fetchone():
                raise StoreError(f"decision on unknown session {decision.session_id}")
            if (
                decision.recommendation_id is not None
                and not db.execute(
                    "SELECT 1 FROM recommendations WHERE session_id = ? AND id = ?",
                    (decision.session_id, decision.recommendation_id),
                ).fetchone()
            ):
                raise StoreError(
                    f"decision on unknown recommendation {decision.recommendation_id} of session {decision.session_id}"
                )
            if decision.result_version is not None and not self._version_exists(db, decision.result_version):
                raise StoreError(f"decision names unknown playbook version {decision.result_version}")
            db.execute(
                "INSERT INTO decisions"
                " (session_id, recommendation_id, action, actor, created_at, result_version)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    decision.session_id,
                    decision.recommendation_id,
                    decision.action,
                    decision.actor,
                    _iso(decision.created_at),
                    decision.result_version,
                ),
            )

    def decisions(self, session_id: str) -> list[DecisionRecord]:
        """Decisions on session ``session_id``, in the order they were recorded."""
        rows = self._query(
            "SELECT session_id, recommendation_id, action, actor, created_at, result_version"
            " FROM decisions WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        return [DecisionRecord(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]), row[5]) for row in rows]

    @staticmethod
    def _version_exists(db: sqlite3.Connection, version: int) -> bool:
        row = db.execute("SELECT 1 FROM playbook_versions WHERE version = ? AND state = 'live'", (version,)).fetchone()
        return row is not None


_SESSION_COLUMNS = "id, created_at, expires_at, status, playbook_version, payload"


def _session_from_row(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        created_at=datetime.fromisoformat(row[1]),
        expires_at=datetime.fromisoformat(row[2]),
        status=row[3],
        playbook_version=row[4],
        payload=json.loads(row[5]),
    )


def _check_status(status: str, what: str) -> None:
    if status not in STATUSES:
        raise StoreError(f"{what}: status '{status}' is not one of {', '.join(STATUSES)}")
