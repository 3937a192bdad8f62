"""The store's database: its schema and migrations, the connection, transactions and the audit log.

:class:`Database` is the base the other parts of :class:`framework.store.Store` build on. The schema
version is ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in order when a store is opened.
Every write is one ``BEGIN IMMEDIATE`` transaction; sqlite errors become ``StoreError``. All times are
timezone-aware UTC, stored as ISO-8601 text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from framework.errors import StoreError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE playbook_versions (
            version INTEGER PRIMARY KEY,
            parent INTEGER REFERENCES playbook_versions(version),
            text TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            author TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            path TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'live')),
            writer_pid INTEGER
        )""",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL,
            playbook_version INTEGER NOT NULL REFERENCES playbook_versions(version),
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_created_at ON sessions(created_at)",
        """CREATE TABLE recommendations (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            id TEXT NOT NULL,
            position INTEGER NOT NULL,
            regime TEXT NOT NULL,
            parameter TEXT NOT NULL,
            current TEXT NOT NULL,
            proposed TEXT NOT NULL,
            risk TEXT NOT NULL,
            confidence REAL NOT NULL,
            status TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (session_id, id)
        )""",
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id),
            recommendation_id TEXT,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            result_version INTEGER REFERENCES playbook_versions(version),
            FOREIGN KEY (session_id, recommendation_id) REFERENCES recommendations(session_id, id)
        )""",
        "CREATE INDEX decisions_session ON decisions(session_id)",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            event TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
    ),
    (
        """CREATE TABLE version_audits (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL
        )""",
    ),
)
"""Schema migrations in order; after migration ``n`` the database's ``user_version`` is ``n``."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log; ``created_at`` is UTC."""

    id: int
    created_at: datetime
    actor: str
    event: str
    detail: dict[str, Any]


class Database:
    """An open SQLite database of the store: configured (WAL, foreign keys, ``busy_timeout_ms``) and
    migrated to the newest schema. Use it as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, *, busy_timeout_ms: int, clock: Callable[[], datetime] | None = None):
        self.path = Path(path).resolve()
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock or _now
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        try:
            self._configure()
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    @property
    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        version: int = self._query_one("PRAGMA user_version")[0]
        return version

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- audit log -------------------------------------------------------------------------------

    def audit(self, actor: str, event: str, detail: dict[str, Any]) -> None:
        """Append an entry to the audit log, stamped now (UTC)."""
        with self._transaction() as db:
            self._write_audit(db, actor, event, detail)

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` audit entries, newest first."""
        rows = self._query(
            "SELECT id, created_at, actor, event, detail FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [AuditEntry(row[0], datetime.fromisoformat(row[1]), row[2], row[3], json.loads(row[4])) for row in rows]

    # --- internals -------------------------------------------------------------------------------

    def _configure(self) -> None:
        try:
            self._db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        if self._check_schema_version(self.schema_version) == len(MIGRATIONS):
            return
        with self._transaction() as db:
            current = self._check_schema_version(db.execute("PRAGMA user_version").fetchone()[0])
            for statements in MIGRATIONS[current:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def _check_schema_version(self, version: int) -> int:
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store {self.path} has schema version {version}, but this playbook-tuner knows "
                f"versions up to {len(MIGRATIONS)}; upgrade playbook-tuner to open it"
            )
        return version

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; sqlite errors become ``StoreError``."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the store {self.path}: {exc}") from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"the store {self.path} refused a write: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc

    def _query_one(self, sql: str) -> Any:
        return self._query(sql)[0]

    def _write_audit(self, db: sqlite3.Connection, actor: str, event: str, detail: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO audit_log (created_at, actor, event, detail) VALUES (?, ?, ?, ?)",
            (_iso(self._clock()), actor, event, _json(detail, f"detail of audit event {event}")),
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds, so that text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreError(f"naive datetime {moment.isoformat()}: pass a timezone-aware UTC time")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=_numpy_scalar)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from exc


def _numpy_scalar(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")
