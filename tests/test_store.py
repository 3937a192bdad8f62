"""The SQLite store: migrations, crash-safe publishing (tested by killing a writer), sessions, audit."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from framework.errors import InputError, StoreError
from framework.store import (
    MIGRATIONS,
    DecisionRecord,
    ParentMoved,
    RecommendationRecord,
    SessionRecord,
    Store,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def playbook_text(leverage: float) -> str:
    return textwrap.dedent(
        f"""\
        # live playbook
        default:
          leverage: {leverage}   # tuned
          stop_loss: 0.02
          risk_reward_ratio: 2.0
          confidence_threshold: 0.7
          position_size: 0.1
          max_hold: 48h
        """
    )


OLD, NEW = playbook_text(2.0), playbook_text(3.0)


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "state" / "store.db", tmp_path / "playbook.yaml"


@pytest.fixture
def store(paths: tuple[Path, Path]) -> Iterator[Store]:
    with Store(paths[0]) as opened:
        yield opened


def raw_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def temporaries(live: Path) -> list[Path]:
    return sorted(live.parent.glob(f"{live.name}.tmp-*"))


# --- schema ---------------------------------------------------------------------------------------


def test_open_creates_the_schema_in_wal_mode(paths: tuple[Path, Path]) -> None:
    db, _ = paths
    with Store(db) as store:
        assert store.schema_version == len(MIGRATIONS)
    assert raw_rows(db, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert raw_rows(db, "PRAGMA journal_mode") == [("wal",)]
    tables = {row[0] for row in raw_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"playbook_versions", "sessions", "recommendations", "decisions", "audit_log"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_again(paths: tuple[Path, Path]) -> None:
    db, live = paths
    with Store(db) as store:
        store.publish_playbook(live, OLD, author="ana", reason="first")
    with Store(db) as store:
        assert [v.version for v in store.playbook_versions()] == [1]
        assert store.schema_version == len(MIGRATIONS)


def test_a_newer_schema_is_refused(paths: tuple[Path, Path]) -> None:
    db, _ = paths
    Store(db).close()
    with sqlite3.connect(db) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="upgrade playbook-tuner"):
        Store(db)


def test_a_file_that_is_not_a_database_is_refused(paths: tuple[Path, Path]) -> None:
    db, _ = paths
    db.parent.mkdir()
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(db)


# --- publishing -------------------------------------------------------------------------------------


def test_publish_writes_the_file_and_the_version_together(store: Store, paths: tuple[Path, Path]) -> None:
    _, live = paths
    first = store.publish_playbook(live, OLD, author="ana", reason="initial")
    second = store.publish_playbook(live, NEW, author="bot", reason="session s1")
    assert live.read_bytes() == NEW.encode()
    assert (first.version, first.parent, second.version, second.parent) == (1, None, 2, 1)
    assert store.latest_playbook_version() == second
    assert store.playbook_version(1).text == OLD
    assert (second.author, second.reason, second.path) == ("bot", "session s1", str(live.resolve()))
    assert second.created_at.tzinfo is not None and second.created_at.utcoffset() == timedelta(0)
    assert [e.event for e in store.audit_log()] == ["publish", "publish"]
    assert store.audit_log()[0].detail["version"] == 2
    assert temporaries(live) == []


def test_publish_refuses_an_invalid_playbook(store: Store, paths: tuple[Path, Path]) -> None:
    _, live = paths
    with pytest.raises(InputError, match=r"default\.leverage"):
        store.publish_playbook(live, playbook_text(-1.0), author="ana", reason="oops")
    assert not live.exists()
    assert store.latest_playbook_version() is None


def test_publish_keeps_file_permissions_and_writes_through_a_symlink(store: Store, tmp_path: Path) -> None:
    real = tmp_path / "bot" / "playbook.yaml"
    real.parent.mkdir()
    real.write_text(OLD)
    real.chmod(0o640)
    link = tmp_path / "playbook-link.yaml"
    link.symlink_to(real)
    version = store.publish_playbook(link, NEW, author="ana", reason="via link")
    assert link.is_symlink() and real.read_text() == NEW
    assert real.stat().st_mode & 0o777 == 0o640
    assert version.path == str(real)


def test_rollback_publishes_the_old_text_as_a_new_version(store: Store, paths: tuple[Path, Path]) -> None:
    _, live = paths
    store.publish_playbook(live, OLD, author="ana", reason="initial")
    store.publish_playbook(live, NEW, author="bot", reason="tuned")
    rolled = store.rollback(live, 1, author="ana", reason="drawdown after tuning")
    assert (rolled.version, rolled.parent, rolled.text) == (3, 2, OLD)
    assert "rollback to version 1" in rolled.reason and "drawdown after tuning" in rolled.reason
    assert live.read_text() == OLD
    entry = store.audit_log(limit=1)[0]
    assert (entry.event, entry.actor, entry.detail["rolled_back_to"]) == ("rollback", "ana", 1)


def test_rollback_to_an_unknown_version(store: Store, paths: tuple[Path, Path]) -> None:
    _, live = paths
    store.publish_playbook(live, OLD, author="ana", reason="initial")
    with pytest.raises(StoreError, match=r"no playbook version 7 .*versions are 1 to 1"):
        store.rollback(live, 7, author="ana", reason="x")


def test_register_live_playbook_records_first_use_and_hand_edits(store: Store, paths: tuple[Path, Path]) -> None:
    _, live = paths
    live.write_text(OLD)
    first = store.register_live_playbook(live)
    assert (first.version, first.author, first.text) == (1, "import", OLD)
    assert "first registration" in first.reason
    assert store.register_live_playbook(live) == first
    live.write_text(NEW)
    edited = store.register_live_playbook(live, author="ops")
    assert (edited.version, edited.parent, edited.text, edited.author) == (2, 1, NEW, "ops")
    assert "hand edit" in edited.reason
    assert [e.event for e in store.audit_log()] == ["register", "register"]


def test_register_live_playbook_needs_the_file(store: Store, paths: tuple[Path, Path]) -> None:
    with pytest.raises(InputError, match="not found"):
        store.register_live_playbook(paths[1])


def test_a_failed_write_leaves_file_and_versions_unchanged(
    store: Store, paths: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, live = paths
    store.publish_playbook(live, OLD, author="ana", reason="initial")

    def disk_full(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StoreError, match="unchanged"):
        store.publish_playbook(live, NEW, author="bot", reason="tuned")
    monkeypatch.undo()
    assert live.read_text() == OLD
    assert [v.version for v in store.playbook_versions()] == [1]
    assert temporaries(live) == []
    assert store.publish_playbook(live, NEW, author="bot", reason="again").version == 2


def test_a_failure_after_the_rename_keeps_the_new_version(
    store: Store, paths: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, live = paths
    store.publish_playbook(live, OLD, author="ana", reason="initial")
    real_fsync = os.fsync

    def failing_directory_sync(descriptor: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{descriptor}"):
            raise OSError(errno.EIO, "I/O error")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing_directory_sync)
    with pytest.raises(StoreError, match="recorded as version 2"):
        store.publish_playbook(live, NEW, author="bot", reason="tuned")
    monkeypatch.undo()
    assert live.read_text() == NEW
    assert store.latest_playbook_version().text == NEW  # type: ignore[union-attr]


# --- crash safety: kill a real writer process ------------------------------------------------------

CRASH_SCRIPT = """
import os, signal, stat, sys
from pathlib import Path
sys.path.insert(0, {root!r})
import framework.store as store

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

where = {where!r}
if where == "rename":
    os.replace = die
elif where == "directory_fsync":
    real_fsync = os.fsync
    def fsync(descriptor):
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            die()
        real_fsync(descriptor)
    os.fsync = fsync
elif where == "final_commit":
    store.Store._finish_publish = die
s = store.Store(Path({db!r}))
s.publish_playbook(Path({live!r}), {text!r}, author="crash", reason="killed mid-way")
print("publish returned", flush=True)
"""


def publish_and_die(db: Path, live: Path, where: str) -> None:
    script = CRASH_SCRIPT.format(root=str(ROOT), where=where, db=str(db), live=str(live), text=NEW)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "publish returned" not in result.stdout
    assert raw_rows(db, "SELECT version, state FROM playbook_versions ORDER BY version") == [
        (1, "live"),
        (2, "pending"),
    ]


def published_old(paths: tuple[Path, Path]) -> None:
    db, live = paths
    with Store(db) as store:
        store.publish_playbook(live, OLD, author="ana", reason="initial")


def test_crash_before_the_rename_keeps_the_old_file_and_version(paths: tuple[Path, Path]) -> None:
    db, live = paths
    published_old(paths)
    publish_and_die(db, live, "rename")
    assert live.read_bytes() == OLD.encode()
    assert len(temporaries(live)) == 1

    with Store(db) as store:
        assert live.read_bytes() == OLD.encode()
        latest = store.latest_playbook_version()
        assert latest is not None and (latest.version, latest.text) == (1, OLD)
        assert [v.version for v in store.playbook_versions()] == [1]
        assert store.audit_log(limit=1)[0].event == "publish_discarded_on_recovery"
    assert temporaries(live) == []
    assert raw_rows(db, "SELECT count(*) FROM playbook_versions WHERE state = 'pending'") == [(0,)]


@pytest.mark.parametrize("where", ["directory_fsync", "final_commit"])
def test_crash_after_the_rename_keeps_the_new_file_and_version(paths: tuple[Path, Path], where: str) -> None:
    db, live = paths
    published_old(paths)
    publish_and_die(db, live, where)
    assert live.read_bytes() == NEW.encode()

    with Store(db) as store:
        latest = store.latest_playbook_version()
        assert latest is not None
        assert (latest.version, latest.parent, latest.text, latest.author) == (2, 1, NEW, "crash")
        assert store.audit_log(limit=1)[0].event == "publish_completed_on_recovery"
    assert live.read_bytes() == NEW.encode()
    assert temporaries(live) == []


def test_a_pending_publish_of_a_live_process_is_left_alone(paths: tuple[Path, Path]) -> None:
    db, live = paths
    published_old(paths)
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO playbook_versions (parent, text, sha256, author, reason, created_at, path,"
            " state, writer_pid)"
            " VALUES (1, 'x', 'y', 'other', 'busy', '2024-01-01T00:00:00+00:00', ?, 'pending', ?)",
            (str(live), os.getppid()),
        )
    with Store(db) as store:
        assert raw_rows(db, "SELECT count(*) FROM playbook_versions WHERE state = 'pending'") == [(1,)]
        with pytest.raises(StoreError, match="another publish is in progress"):
            store.publish_playbook(live, NEW, author="bot", reason="tuned")
        assert [v.version for v in store.playbook_versions()] == [1]
    assert live.read_text() == OLD


def test_two_stores_on_one_database_work_side_by_side(paths: tuple[Path, Path]) -> None:
    db, live = paths
    with Store(db) as cli, Store(db) as bot:
        cli.publish_playbook(live, OLD, author="cli", reason="initial")
        bot.audit("bot", "heartbeat", {"ok": True})
        assert bot.latest_playbook_version() == cli.latest_playbook_version()
        bot.publish_playbook(live, NEW, author="bot", reason="tuned")
        assert cli.latest_playbook_version().version == 2  # type: ignore[union-attr]
        assert [e.event for e in cli.audit_log()] == ["publish", "heartbeat", "publish"]


def test_a_publish_on_a_parent_that_moved_is_refused_and_writes_nothing(paths: tuple[Path, Path]) -> None:
    db, live = paths
    with Store(db) as cli, Store(db) as bot:
        cli.publish_playbook(live, OLD, author="cli", reason="initial")
        # Both checked version 1; the bot publishes first.
        bot.publish_playbook(live, NEW, author="bot", reason="session s1", expected_parent=1)
        audit_before = cli.audit_log()

        with pytest.raises(
            ParentMoved, match=r"expected playbook version 1 to be the latest .*latest is version 2"
        ) as raised:
            cli.publish_playbook(live, playbook_text(4.0), author="cli", reason="session s2", expected_parent=1)
        with pytest.raises(ParentMoved, match="latest is version 2"):
            cli.rollback(live, 1, author="cli", reason="undo", expected_parent=1)

        assert isinstance(raised.value, StoreError)
        assert (raised.value.expected, raised.value.actual) == (1, 2)
        assert live.read_text() == NEW
        assert raw_rows(db, "SELECT version, state FROM playbook_versions ORDER BY version") == [
            (1, "live"),
            (2, "live"),
        ]
        assert cli.audit_log() == audit_before
        assert temporaries(live) == []
        # On the version it saw last, the publish goes ahead.
        third = cli.publish_playbook(live, playbook_text(4.0), author="cli", reason="again", expected_parent=2)
        assert (third.version, third.parent) == (3, 2)
        assert cli.rollback(live, 1, author="cli", reason="undo", expected_parent=3).parent == 3
    assert live.read_text() == OLD


def test_expected_parent_on_an_empty_store_is_refused(store: Store, paths: tuple[Path, Path]) -> None:
    with pytest.raises(ParentMoved, match="but the store has no version") as raised:
        store.publish_playbook(paths[1], OLD, author="ana", reason="first", expected_parent=1)
    assert raised.value.actual is None
    assert store.playbook_versions() == [] and not paths[1].exists()


# --- sessions, recommendations, decisions, audit ----------------------------------------------------


def make_session(store: Store, live: Path, session_id: str = "s1", created_at: datetime = T0) -> SessionRecord:
    if store.latest_playbook_version() is None:
        store.publish_playbook(live, OLD, author="ana", reason="initial")
    return SessionRecord(
        id=session_id,
        created_at=created_at,
        expires_at=created_at + timedelta(hours=24),
        status="pending",
        playbook_version=1,
        payload={"trades": 120, "window": ["2024-02-01", "2024-03-01"]},
    )


def make_recommendation(rec_id: str, session_id: str = "s1") -> RecommendationRecord:
    return RecommendationRecord(
        id=rec_id,
        session_id=session_id,
        regime="volatile",
        parameter="leverage",
        current=2.0,
        proposed=1.5,
        risk="low",
        confidence=0.8,
        status="pending",
        payload={"oos_sharpe": np.float64(1.25), "folds": np.int64(5), "r2": float("nan")},
    )


def test_session_round_trip_preserves_utc_times_and_order(store: Store, paths: tuple[Path, Path]) -> None:
    tokyo = timezone(timedelta(hours=9))
    session = make_session(store, paths[1], created_at=T0.astimezone(tokyo))
    recs = [make_recommendation("b"), make_recommendation("a")]
    store.save_session(session, recs)
    loaded = store.session("s1")
    assert loaded.created_at == T0 and loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.expires_at == T0 + timedelta(hours=24)
    assert (loaded.status, loaded.playbook_version, loaded.payload) == ("pending", 1, session.payload)
    got = store.recommendations("s1")
    assert [r.id for r in got] == ["b", "a"]
    assert (got[0].current, got[0].proposed, got[0].risk, got[0].confidence) == (2.0, 1.5, "low", 0.8)
    assert got[0].payload["oos_sharpe"] == 1.25 and got[0].payload["folds"] == 5
    assert got[0].payload["r2"] != got[0].payload["r2"]  # NaN survives


def test_sessions_since_filters_by_creation_time(store: Store, paths: tuple[Path, Path]) -> None:
    for day in range(3):
        store.save_session(make_session(store, paths[1], f"s{day}", T0 + timedelta(days=day)), [])
    assert [s.id for s in store.sessions()] == ["s0", "s1", "s2"]
    assert [s.id for s in store.sessions(since=T0 + timedelta(days=1))] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("recommendations", "expected"),
    [
        ([make_recommendation("a", session_id="other")], "names session other"),
        ([make_recommendation("a"), make_recommendation("a")], "appears twice"),
    ],
)
def test_save_session_rejects_inconsistent_recommendations(
    store: Store, paths: tuple[Path, Path], recommendations: list[RecommendationRecord], expected: str
) -> None:
    with pytest.raises(StoreError, match=expected):
        store.save_session(make_session(store, paths[1]), recommendations)
    assert store.sessions() == []


def test_save_session_refuses_bad_values(store: Store, paths: tuple[Path, Path]) -> None:
    session = make_session(store, paths[1])
    with pytest.raises(StoreError, match="status 'done'"):
        store.save_session(SessionRecord(**{**session.__dict__, "status": "done"}), [])
    with pytest.raises(StoreError, match="naive datetime"):
        store.save_session(SessionRecord(**{**session.__dict__, "created_at": datetime(2024, 1, 1)}), [])
    with pytest.raises(StoreError, match="no playbook version 9"):
        store.save_session(SessionRecord(**{**session.__dict__, "playbook_version": 9}), [])
    with pytest.raises(StoreError, match="JSON"):
        store.save_session(SessionRecord(**{**session.__dict__, "payload": {"x": object()}}), [])
    store.save_session(session, [make_recommendation("a")])
    with pytest.raises(StoreError, match="already saved"):
        store.save_session(session, [])
    assert [r.id for r in store.recommendations("s1")] == ["a"]


def test_statuses_can_be_changed(store: Store, paths: tuple[Path, Path]) -> None:
    store.save_session(make_session(store, paths[1]), [make_recommendation("a"), make_recommendation("b")])
    assert store.claim_recommendations("s1", ["a"], "applied") == ["a"]
    assert store.claim_recommendations("s1", ["b"], "rejected") == ["b"]
    store.set_session_status("s1", "applied")
    assert [r.status for r in store.recommendations("s1")] == ["applied", "rejected"]
    assert store.session("s1").status == "applied"
    with pytest.raises(StoreError, match="no recommendation c"):
        store.claim_recommendations("s1", ["c"], "applied")
    with pytest.raises(StoreError, match="no session s9"):
        store.set_session_status("s9", "expired")
    with pytest.raises(StoreError, match="status 'approved'"):
        store.set_session_status("s1", "approved")


def test_claim_recommendations_takes_only_pending_items(paths: tuple[Path, Path]) -> None:
    db, live = paths
    with Store(db) as cli, Store(db) as bot:
        recs = [make_recommendation(rec_id) for rec_id in ("a", "b", "c", "d")]
        cli.save_session(make_session(cli, live), recs)
        assert cli.claim_recommendations("s1", ["b"], "expired") == ["b"]

        # The order given is kept, a repeated id counts once, a decided one is left alone.
        assert cli.claim_recommendations("s1", ["c", "a", "b", "a"], "applied") == ["c", "a"]
        # Another connection gets only what is still pending.
        assert bot.claim_recommendations("s1", ["a", "b", "c", "d"], "rejected") == ["d"]
        assert bot.claim_recommendations("s1", ["a", "d"], "rejected") == []
        assert [r.status for r in cli.recommendations("s1")] == ["applied", "expired", "applied", "rejected"]


def test_claim_recommendations_refuses_unknown_items_and_pending(store: Store, paths: tuple[Path, Path]) -> None:
    store.save_session(make_session(store, paths[1]), [make_recommendation("a"), make_recommendation("b")])
    with pytest.raises(StoreError, match="no recommendation zz in session s1"):
        store.claim_recommendations("s1", ["a", "zz"], "applied")
    with pytest.raises(StoreError, match="not 'pending'"):
        store.claim_recommendations("s1", ["b"], "pending")
    with pytest.raises(StoreError, match="status 'approved'"):
        store.claim_recommendations("s1", ["b"], "approved")
    assert [r.status for r in store.recommendations("s1")] == ["pending", "pending"]  # nothing half-done
    assert store.claim_recommendations("s1", [], "applied") == []


def test_decisions_round_trip(store: Store, paths: tuple[Path, Path]) -> None:
    store.save_session(make_session(store, paths[1]), [make_recommendation("a")])
    applied = DecisionRecord("s1", "a", "approve", "ana", T0 + timedelta(minutes=5), result_version=1)
    rejected = DecisionRecord("s1", None, "reject_rest", "ana", T0 + timedelta(minutes=6), None)
    store.record_decision(applied)
    store.record_decision(rejected)
    assert store.decisions("s1") == [applied, rejected]
    with pytest.raises(StoreError, match="unknown recommendation z"):
        store.record_decision(DecisionRecord("s1", "z", "approve", "ana", T0, None))
    with pytest.raises(StoreError, match="unknown session s9"):
        store.record_decision(DecisionRecord("s9", None, "approve", "ana", T0, None))
    with pytest.raises(StoreError, match="unknown playbook version 5"):
        store.record_decision(DecisionRecord("s1", None, "approve", "ana", T0, 5))


def test_unknown_session_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no session nope"):
        store.session("nope")
    with pytest.raises(StoreError, match="no session nope"):
        store.recommendations("nope")


def test_audit_log_is_newest_first_and_limited(store: Store) -> None:
    for n in range(5):
        store.audit("ana", f"event{n}", {"n": n, "nested": {"ok": True}})
    entries = store.audit_log(limit=3)
    assert [e.event for e in entries] == ["event4", "event3", "event2"]
    assert entries[0].detail == {"n": 4, "nested": {"ok": True}}
    assert entries[0].created_at.utcoffset() == timedelta(0)
    assert abs(entries[0].created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_payloads_are_stored_as_json_text(store: Store, paths: tuple[Path, Path]) -> None:
    store.save_session(make_session(store, paths[1]), [])
    (payload,) = raw_rows(paths[0], "SELECT payload FROM sessions")[0]
    assert json.loads(str(payload)) == {"trades": 120, "window": ["2024-02-01", "2024-03-01"]}


def test_the_clock_stamps_versions_and_the_audit_log(paths: tuple[Path, Path]) -> None:
    db, live = paths
    live.write_text(playbook_text(2.0))
    with Store(db, clock=lambda: T0) as store:
        first = store.register_live_playbook(live)
        second = store.publish_playbook(live, playbook_text(3.0), author="cli", reason="more leverage")
        entries = store.audit_log()
    assert first.created_at == second.created_at == T0
    assert {entry.created_at for entry in entries} == {T0}


def test_audits_are_kept_in_order_and_their_flags_logged(store: Store) -> None:
    assert store.latest_audit() is None
    store.save_audit(T0, {"versions": [{"version": 2, "verdict": "better"}]})
    later = store.save_audit(T0 + timedelta(days=7), {"versions": [{"version": 3, "verdict": "worse"}]})
    assert [record.payload["versions"][0]["version"] for record in store.audits()] == [2, 3]
    assert [record.id for record in store.audits(since=T0 + timedelta(days=1))] == [later.id]
    latest = store.latest_audit()
    assert latest is not None and latest.id == later.id and latest.created_at == T0 + timedelta(days=7)
    assert [entry.detail["flagged"] for entry in store.audit_log() if entry.event == "audit"] == [[3], []]


def test_an_audit_that_is_not_json_writes_nothing(store: Store) -> None:
    with pytest.raises(StoreError):
        store.save_audit(T0, {"versions": [object()]})
    assert store.audits() == []
