"""Playbook versions and the publish protocol: the live file and the version table always agree.

Two processes may decide at the same instant, so a check and the write that depends on it happen in
one transaction. A publish given ``expected_parent`` (compare-and-publish) records its version only
while that version is still the latest, and raises :class:`ParentMoved` otherwise: of two writers
that checked the same version, the second is refused instead of silently replacing the first's.

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
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from framework.errors import InputError, StoreError
from framework.livefile import process_alive, remove_stray_temporaries, write_atomically
from framework.store.schema import Database, _iso

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


class PlaybookVersions(Database):
    """The versions part of :class:`framework.store.Store`: publish, roll back, register, read."""

    def __init__(self, path: Path, *, busy_timeout_ms: int, clock: Callable[[], datetime] | None = None):
        super().__init__(path, busy_timeout_ms=busy_timeout_ms, clock=clock)
        self._key = str(self.path)

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
            registered = _insert_version(db, target, text, parent, author, reason, self._clock(), writer_pid=None)
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

    def _latest_version(self, db: sqlite3.Connection) -> PlaybookVersion | None:
        try:
            row = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM playbook_versions WHERE state = 'live' ORDER BY version DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from exc
        return _version_from_row(row) if row else None

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
                pending = _insert_version(
                    db, target, text, parent, author, reason, self._clock(), writer_pid=os.getpid()
                )
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


def _insert_version(
    db: sqlite3.Connection,
    target: Path,
    text: str,
    parent: int | None,
    author: str,
    reason: str,
    created: datetime,
    *,
    writer_pid: int | None,
) -> PlaybookVersion:
    """Insert a version row: ``pending`` while ``writer_pid`` writes the file, else ``live``."""
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
