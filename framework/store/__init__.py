"""The project's state in one SQLite database: playbook versions, tuning sessions, recommendations,
decisions, the post-apply audits and an audit log.

The database runs in WAL mode so several processes (the CLI, the Telegram bot) can open it at once;
every write is one ``BEGIN IMMEDIATE`` transaction. :class:`Store` is made of four parts, one module
each: :mod:`~framework.store.schema` (the schema, its migrations, transactions, the audit log),
:mod:`~framework.store.versions` (playbook versions and the crash-safe publish protocol, with
compare-and-publish), :mod:`~framework.store.sessions` (sessions, the claim of their items, decisions) and
:mod:`~framework.store.audits` (the post-apply audits' reports).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from framework.store.audits import AuditRecord, VersionAudits
from framework.store.schema import MIGRATIONS, AuditEntry
from framework.store.sessions import STATUSES, DecisionRecord, RecommendationRecord, SessionRecord, Sessions
from framework.store.versions import ParentMoved, PlaybookVersion, PlaybookVersions

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "STATUSES",
    "STORE_FILE_NAME",
    "AuditEntry",
    "AuditRecord",
    "DecisionRecord",
    "ParentMoved",
    "PlaybookVersion",
    "RecommendationRecord",
    "SessionRecord",
    "Store",
]

STORE_FILE_NAME = "playbook-tuner.sqlite"
"""The store's file name where none is given: beside the live playbook (``tune``) or in the working folder."""
BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another process's transaction before it fails, in milliseconds."""


class Store(PlaybookVersions, Sessions, VersionAudits):
    """The project's SQLite database. Opening it creates it if needed, migrates it and settles any
    publish a crashed process left half-done. Use it as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None):
        """``clock`` (default: now, UTC) stamps the versions, audits and the audit log."""
        super().__init__(path, busy_timeout_ms=BUSY_TIMEOUT_MS, clock=clock)
        try:
            self._recover()
        except BaseException:
            self.close()
            raise
