"""The project's state in one SQLite database: playbook versions, tuning sessions, recommendations,
decisions and an audit log.

The database runs in WAL mode so several processes (the CLI, the Telegram bot) can open it at once;
every write is one ``BEGIN IMMEDIATE`` transaction. Its schema version is ``PRAGMA user_version``;
:data:`MIGRATIONS` are applied in order when a store is opened.

Two processes may decide at the same instant, so a check and the write that depends on it happen in
one transaction. A publish given ``expected_parent`` (compare-and-publish) records its version only
while that version is still the latest, and raises :class:`ParentMoved` otherwise: of two writers
that checked the same version, the second is refused instead of silently replacing the first's.
:meth:`Store.claim_recommendations` likewise decides only the items still ``pending``, so two
deciders never both take one item.

Publishing a playbook writes the live file the bot reads. The file and the version table must agree
even if the process dies half-way, so a publish goes in three steps:

1. a transaction records the new version as ``pending``;
2. :func:`framework.livefile.write_atomically` writes the text to ``<live>.tmp-<pid>`` beside the
   live file, fsyncs it, renames it over the live file with ``os.replace`` and fsyncs the directory;
3. a transaction marks the version ``live`` and writes the audit entry.

Opening a store (and every publish) settles ``pending`` rows whose writer is gone: when the live
file already holds the pending text the rename happened and the version becomes live; otherwise the
row is deleted and the writer's temporary file removed. Readers see ``live`` versions only. All
times are timezone-aware UTC, stored as ISO-8601 text.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from framework.errors import InputError, StoreError
from framework.formatting import RISK_LEVELS
from framework.livefile import process_alive, remove_stray_temporaries, write_atomically

STORE_FILE_NAME = "playbook-tuner.sqlite"
"""The store's file name where none is given: beside the live playbook (``tune``) or in the working folder."""
STATUSES = ("pending", "applied", "rejected", "expired")
"""Lifecycle of a session and of each recommendation."""
BUSY_TIMEOUT_MS = 10_000

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
)
"""Schema migrations in order; after migration ``n`` the database's ``user_version`` is ``n``."""

# Publishes in progress in this process, as (database path, version): a pending row written by this
# process is in progress only while it is listed here.
_PUBLISHING: set[tuple[str, int]] = set()


class ParentMoved(StoreError):
    """A publish expected ``expected`` to be the latest version, but ``actual`` is (None: the store has
    no version): another process published in between. Nothing was written."""

    def __init__(self, path: Path, expected: int, actual: int | None):
        self.expected = expected
        self.actual = actual
        latest = f"the latest is version {actual}" if actual is not None else "the store has no version"
        super().__init__(
            f"expected playbook version {expected} to be the latest in {path}, but {latest}; nothing was written. "
            "Check `playbook-tuner history` and decide again"
        )


@dataclass(frozen=True)
class PlaybookVersion:
    """One published playbook text. ``parent`` is the version that was live before it; ``path`` is
    the live file it was written to; ``created_at`` is UTC."""

    version: int
    parent: int | None
    text: str
    sha256: str
    author: str
    reason: str
    created_at: datetime
    path: str


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


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log; ``created_at`` is UTC."""

    id: int
    created_at: datetime
    actor: str
    event: str
    detail: dict[str, Any]


class Store:
    """The project's SQLite database. Opening it creates it if needed, migrates it and settles any
    publish a crashed process left half-done. Use it as a context manager or call :meth:`close`."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self._key = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        try:
            self._configure()
            self._migrate()
            self._recover()
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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- playbook versions -----------------------------------------------------------------------

    def publish_playbook(
        self, live_path: Path, text: str, *, author: str, reason: str, expected_parent: int | None = None
    ) -> PlaybookVersion:
        """Write ``text`` to the live playbook file and record it as a new version.

        The text must be a valid playbook (``InputError`` otherwise). A symlinked live path is written
        through to its target. Crash-safe: afterwards the file and the latest version agree.

        With ``expected_parent`` (the version the caller based ``text`` on) the publish goes ahead only
        if that is still the latest version, checked in the transaction that records the new one;
        otherwise it raises :class:`ParentMoved` and writes nothing. None publishes on whatever is latest.
        """
        return self._publish(
            live_path, text, author=author, reason=reason, event="publish", extra={}, expected_parent=expected_parent
        )

    def rollback(
        self, live_path: Path, version: int, *, author: str, reason: str, expected_parent: int | None = None
    ) -> PlaybookVersion:
        """Publish the text of ``version`` again as a new version whose parent is the current latest.

        The new version's reason reads ``rollback to version <n>: <reason>``. ``expected_parent`` is
        checked as by :meth:`publish_playbook`.
        """
        old = self.playbook_version(version)
        return self._publish(
            live_path,
            old.text,
            author=author,
            reason=f"rollback to version {version}: {reason}",
            event="rollback",
            extra={"rolled_back_to": version},
            expected_parent=expected_parent,
        )

    def register_live_playbook(self, live_path: Path, *, author: str = "import") -> PlaybookVersion:
        """Record the live file's current text as a version if it differs from the latest one.

        That covers the first use of a store and a hand edit made outside playbook-tuner (the reason
        says which). The file is not validated: the history records what the bot is reading. Returns
        the latest version.
        """
        target = Path(live_path).resolve()
        self._recover()
        with self._transaction() as db:
            self._refuse_if_publishing(db)
            text = _read_live_file(target)
            latest = self._latest_version(db)
            if latest is not None and latest.sha256 == _sha256(text):
                return latest
            if latest is None:
                reason = f"first registration of {target}"
            elif latest.path != str(target):
                reason = f"registered {target}; version {latest.version} was published to {latest.path}"
            else:
                reason = f"hand edit of {target} made outside playbook-tuner (differs from version {latest.version})"
            parent = latest.version if latest else None
            registered = _insert_version(db, target, text, parent, author, reason, writer_pid=None)
            self._write_audit(db, author, "register", _version_detail(registered))
        return registered

    def playbook_versions(self) -> list[PlaybookVersion]:
        """Every live version, oldest first."""
        rows = self._query(f"SELECT {_VERSION_COLUMNS} FROM playbook_versions WHERE state = 'live' ORDER BY version")
        return [_version_from_row(row) for row in rows]

    def playbook_version(self, version: int) -> PlaybookVersion:
        """The live version numbered ``version``; ``StoreError`` if there is none."""
        rows = self._query(
            f"SELECT {_VERSION_COLUMNS} FROM playbook_versions WHERE version = ? AND state = 'live'",
            (version,),
        )
        if not rows:
            latest = self.latest_playbook_version()
            known = f"versions are 1 to {latest.version}" if latest else "the store has no versions yet"
            raise StoreError(f"no playbook version {version} in {self.path}; {known}")
        return _version_from_row(rows[0])

    def latest_playbook_version(self) -> PlaybookVersion | None:
        """The newest live version, or None before the first publish or registration."""
        return self._latest_version(self._db)

    # --- sessions, recommendations, decisions ----------------------------------------------------

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
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
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

    def _latest_version(self, db: sqlite3.Connection) -> PlaybookVersion | None:
        try:
            row = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM playbook_versions WHERE state = 'live' ORDER BY version DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
        return _version_from_row(row) if row else None

    @staticmethod
    def _version_exists(db: sqlite3.Connection, version: int) -> bool:
        row = db.execute("SELECT 1 FROM playbook_versions WHERE version = ? AND state = 'live'", (version,)).fetchone()
        return row is not None

    @staticmethod
    def _write_audit(db: sqlite3.Connection, actor: str, event: str, detail: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO audit_log (created_at, actor, event, detail) VALUES (?, ?, ?, ?)",
            (_iso(_now()), actor, event, _json(detail, f"detail of audit event {event}")),
        )

    def _publish(
        self,
        live_path: Path,
        text: str,
        *,
        author: str,
        reason: str,
        event: str,
        extra: dict[str, Any],
        expected_parent: int | None,
    ) -> PlaybookVersion:
        target = Path(live_path).resolve()
        # Imported here: the playbook model needs pandas, which the reading commands never load.
        from framework.playbook import parse_playbook

        parse_playbook(text, str(target))  # the bot must never be handed a playbook it cannot read
        self._recover()
        pending = self._begin_publish(target, text, author, reason, expected_parent)
        try:
            try:
                write_atomically(target, text)
            except BaseException as exc:
                published = self._settle(pending.version, event)
                if not isinstance(exc, OSError):
                    raise
                outcome = (
                    f"the file holds the new text, recorded as version {pending.version}"
                    if published
                    else "the live file and the versions are unchanged"
                )
                raise StoreError(f"writing the live playbook {target} failed ({exc}); {outcome}") from exc
            self._finish_publish(pending, event, extra)
        finally:
            _PUBLISHING.discard((self._key, pending.version))
        return pending

    def _begin_publish(
        self, target: Path, text: str, author: str, reason: str, expected_parent: int | None
    ) -> PlaybookVersion:
        """Step 1: record the version as pending (if ``expected_parent``, when given, is the latest)."""
        key: tuple[str, int] | None = None
        try:
            with self._transaction() as db:
                self._refuse_if_publishing(db)
                latest = self._latest_version(db)
                parent = latest.version if latest else None
                if expected_parent is not None and parent != expected_parent:
                    raise ParentMoved(self.path, expected_parent, parent)
                pending = _insert_version(db, target, text, parent, author, reason, writer_pid=os.getpid())
                # Listed before the commit makes the row visible, so that no other store of this
                # process takes it for the leftover of a crash.
                key = (self._key, pending.version)
                _PUBLISHING.add(key)
        except BaseException:
            if key is not None:
                _PUBLISHING.discard(key)
            raise
        return pending

    def _finish_publish(self, pending: PlaybookVersion, event: str, extra: dict[str, Any]) -> None:
        """Step 3: the file holds the text; make the version live and audit it."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE playbook_versions SET state = 'live', writer_pid = NULL"
                " WHERE version = ? AND state = 'pending'",
                (pending.version,),
            ).rowcount
            if updated != 1:
                raise StoreError(
                    f"pending playbook version {pending.version} disappeared while it was published; "
                    f"check {pending.path} against `playbook-tuner history`"
                )
            self._write_audit(db, pending.author, event, {**_version_detail(pending), **extra})

    def _refuse_if_publishing(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT version, writer_pid FROM playbook_versions WHERE state = 'pending'").fetchone()
        if row is not None:
            raise StoreError(
                f"another publish is in progress (version {row[0]}, process {row[1]}); try again once it has finished"
            )

    def _recover(self) -> None:
        """Settle the pending versions of publishes whose process is gone."""
        rows = self._query("SELECT version, writer_pid FROM playbook_versions WHERE state = 'pending'")
        for version, pid in rows:
            if not self._publish_in_progress(version, pid):
                self._settle(version, "recover")

    def _publish_in_progress(self, version: int, pid: int) -> bool:
        if pid == os.getpid():
            return (self._key, version) in _PUBLISHING
        return process_alive(pid)

    def _settle(self, version: int, event: str) -> bool:
        """Make a pending version agree with its live file: live if the file holds its text, else gone.

        Returns True when the version became live.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT sha256, path, writer_pid, author FROM playbook_versions"
                " WHERE version = ? AND state = 'pending'",
                (version,),
            ).fetchone()
            if row is None:
                return False
            digest, path, pid, author = row
            target = Path(path)
            detail = {"version": version, "path": path, "writer_pid": pid, "during": event}
            if _file_sha256(target) == digest:
                db.execute(
                    "UPDATE playbook_versions SET state = 'live', writer_pid = NULL WHERE version = ?",
                    (version,),
                )
                self._write_audit(db, author, "publish_completed_on_recovery", detail)
                return True
            db.execute("DELETE FROM playbook_versions WHERE version = ?", (version,))
            self._write_audit(db, author, "publish_discarded_on_recovery", detail)
            remove_stray_temporaries(target, pid)
            return False


_VERSION_COLUMNS = "version, parent, text, sha256, author, reason, created_at, path"
_SESSION_COLUMNS = "id, created_at, expires_at, status, playbook_version, payload"


def _version_from_row(row: Sequence[Any]) -> PlaybookVersion:
    return PlaybookVersion(
        version=row[0],
        parent=row[1],
        text=row[2],
        sha256=row[3],
        author=row[4],
        reason=row[5],
        created_at=datetime.fromisoformat(row[6]),
        path=row[7],
    )


def _session_from_row(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        created_at=datetime.fromisoformat(row[1]),
        expires_at=datetime.fromisoformat(row[2]),
        status=row[3],
        playbook_version=row[4],
        payload=json.loads(row[5]),
    )


def _insert_version(
    db: sqlite3.Connection,
    target: Path,
    text: str,
    parent: int | None,
    author: str,
    reason: str,
    *,
    writer_pid: int | None,
) -> PlaybookVersion:
    """Insert a version row: ``pending`` while ``writer_pid`` writes the file, else ``live``."""
    created = _now()
    digest = _sha256(text)
    version = db.execute(
        "INSERT INTO playbook_versions"
        " (parent, text, sha256, author, reason, created_at, path, state, writer_pid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            parent,
            text,
            digest,
            author,
            reason,
            _iso(created),
            str(target),
            "live" if writer_pid is None else "pending",
            writer_pid,
        ),
    ).lastrowid
    assert version is not None
    return PlaybookVersion(version, parent, text, digest, author, reason, created, str(target))


def _version_detail(version: PlaybookVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "parent": version.parent,
        "sha256": version.sha256,
        "path": version.path,
        "reason": version.reason,
    }


def _read_live_file(target: Path) -> str:
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise InputError.single(str(target), "live playbook file not found") from None
    except OSError as exc:
        raise InputError.single(str(target), f"cannot read the live playbook: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.single(str(target), f"not UTF-8 text (byte {exc.start})") from None


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the live playbook {path} to settle a pending version: {exc}") from exc


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def _check_status(status: str, what: str) -> None:
    if status not in STATUSES:
        raise StoreError(f"{what}: status '{status}' is not one of {', '.join(STATUSES)}")
