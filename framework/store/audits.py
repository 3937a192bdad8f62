"""The audits part of :class:`framework.store.Store`: each post-apply audit's report, kept as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from framework.store.schema import Database, _iso, _json


@dataclass(frozen=True)
class AuditRecord:
    """One stored audit: when it ran (UTC) and its report (:class:`framework.audit_report.AuditReport`'s JSON)."""

    id: int
    created_at: datetime
    payload: dict[str, Any]


class VersionAudits(Database):
    """Save and read the post-apply audits, oldest first."""

    def save_audit(self, created_at: datetime, payload: dict[str, Any]) -> AuditRecord:
        """Keep one audit's report; the audit log records that it ran and what it flagged."""
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO version_audits (created_at, payload) VALUES (?, ?)",
                (_iso(created_at), _json(payload, "audit report")),
            ).lastrowid
            assert row is not None
            flagged = [v["version"] for v in payload.get("versions", ()) if v.get("verdict") == "worse"]
            self._write_audit(db, "audit", "audit", {"audit": row, "flagged": flagged})
        return AuditRecord(row, created_at, payload)

    def audits(self, since: datetime | None = None) -> list[AuditRecord]:
        """The stored audits (those run at or after ``since``), oldest first."""
        rows = self._query(
            "SELECT id, created_at, payload FROM version_audits WHERE created_at >= ? ORDER BY id",
            (_iso(since) if since else "",),
        )
        return [AuditRecord(row[0], datetime.fromisoformat(row[1]), json.loads(row[2])) for row in rows]

    def latest_audit(self) -> AuditRecord | None:
        rows = self._query("SELECT id, created_at, payload FROM version_audits ORDER BY id DESC LIMIT 1")
        return AuditRecord(rows[0][0], datetime.fromisoformat(rows[0][1]), json.loads(rows[0][2])) if rows else None
