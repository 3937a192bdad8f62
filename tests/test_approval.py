"""The approval core: applying and rejecting a session's recommendations over a real store and live file."""

from __future__ import annotations

import multiprocessing
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.approval import AUTO_ACTOR, EXPIRY_ACTOR, STALE, Approvals, DecisionError, DecisionOutcome
from framework.errors import StoreError
from framework.playbook import parse_playbook
from framework.store import RecommendationRecord, SessionRecord, Store
from tests.clock import Clock

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

LIVE = textwrap.dedent(
    """\
    # live playbook, edited by a human
    default:
      leverage: 2.0   # tuned weekly
      stop_loss: 0.02
      risk_reward_ratio: 2.0
      confidence_threshold: 0.7
      position_size: 0.1
      max_hold: 48h
    regimes:
      volatile:
        leverage: 1.5
    strategy_weights:
      momentum: 1.0
    bounds:
      leverage: [1, 10]
    """
)


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "playbook.yaml"
    path.write_text(LIVE, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path, live: Path) -> Iterator[Store]:
    with Store(tmp_path / "state" / "store.db") as opened:
        opened.register_live_playbook(live)
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture
def approvals(store: Store, live: Path, clock: Clock) -> Approvals:
    return Approvals(store, live, clock=clock)


Item = tuple[str, str, str, Any, Any, str]
"""(id, regime, parameter, current, proposed, risk)"""

STANDARD: tuple[Item, ...] = (
    ("r1", "default", "leverage", 2.0, 2.4, "medium"),
    ("r2", "default", "stop_loss", 0.02, 0.018, "low"),
    ("r3", "default", "max_hold", "48h", "36h", "low"),
    ("r4", "strategy_weights", "momentum", 1.0, 0.8, "low"),
    ("r5", "volatile", "confidence_threshold", 0.7, 0.8, "high"),
)


def make_session(
    store: Store, session_id: str = "s1", items: tuple[Item, ...] = STANDARD, *, version: int = 1
) -> SessionRecord:
    session = SessionRecord(session_id, T0, T0 + timedelta(hours=24), "pending", version, {"rejected": []})
    store.save_session(
        session,
        [
            RecommendationRecord(
                rec_id, session_id, regime, parameter, current, proposed, risk, 0.9, "pending", {"r2": 0.4}
            )
            for rec_id, regime, parameter, current, proposed, risk in items
        ],
    )
    return session


def statuses(store: Store, session_id: str = "s1") -> dict[str, str]:
    return {rec.id: rec.status for rec in store.recommendations(session_id)}


def snapshot(store: Store, live: Path) -> tuple[bytes, int, dict[str, str], str]:
    """What must not move when a decision is refused: the live file, the versions, the statuses."""
    sessions = {s.id: s.status for s in store.sessions()}
    items = ";".join(f"{s}:{statuses(store, s)}" for s in sessions)
    return live.read_bytes(), len(store.playbook_versions()), {**sessions}, items


# --- applying -------------------------------------------------------------------------------------


def test_apply_all_publishes_one_version_with_every_change(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    outcome = approvals.apply_all("s1", "alice")

    assert outcome == DecisionOutcome(
        "s1", "apply_all", ("r1", "r2", "r3", "r4", "r5"), (), (), 2, "applied 5 changes as version 2"
    )
    assert [v.version for v in store.playbook_versions()] == [1, 2]
    text = live.read_text(encoding="utf-8")
    assert text == store.playbook_version(2).text
    assert "# live playbook, edited by a human" in text and "leverage: 2.4   # tuned weekly" in text
    playbook = parse_playbook(text)
    assert playbook.default.leverage == 2.4
    assert playbook.default.stop_loss == 0.018
    assert playbook.default.max_hold == pd.Timedelta(hours=36)
    assert playbook.strategy_weight("momentum") == 0.8
    assert playbook.parameters_for("volatile").confidence_threshold == 0.8
    assert playbook.parameters_for("volatile").leverage == 1.5
    assert store.playbook_version(2).author == "alice"
    assert statuses(store) == dict.fromkeys(["r1", "r2", "r3", "r4", "r5"], "applied")
    assert store.session("s1").status == "applied"
    decisions = store.decisions("s1")
    assert [(d.recommendation_id, d.action, d.actor, d.result_version) for d in decisions] == [
        (rec_id, "apply_all", "alice", 2) for rec_id in ("r1", "r2", "r3", "r4", "r5")
    ]
    assert all(d.created_at == T0 + timedelta(hours=1) for d in decisions)
    entry = store.audit_log(1)[0]
    assert (entry.actor, entry.event, entry.detail["version"]) == ("alice", "decision", 2)


def test_a_double_press_of_apply_all_publishes_one_version(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    first = approvals.apply_all("s1", "alice")
    before = snapshot(store, live)
    decisions = len(store.decisions("s1"))

    second = approvals.apply_all("s1", "alice")

    assert first.new_version == 2
    assert second.applied == () and second.new_version is None
    assert second.unchanged == ("r1", "r2", "r3", "r4", "r5")
    assert second.message == "nothing to apply; 5 already decided"
    assert snapshot(store, live) == before
    assert len(store.decisions("s1")) == decisions


def test_items_applied_in_turns_each_build_on_the_sessions_last_version(
    approvals: Approvals, store: Store, live: Path
) -> None:
    make_session(store)
    first = approvals.apply_items("s1", ["r1", "r2"], "alice")
    again = approvals.apply_items("s1", ["r2", "r3"], "bob")

    assert (first.applied, first.new_version) == (("r1", "r2"), 2)
    assert first.message == "applied 2 changes as version 2; 3 left pending for review"
    assert (again.applied, again.unchanged, again.new_version) == (("r3",), ("r2",), 3)
    assert store.playbook_version(3).parent == 2
    playbook = parse_playbook(live.read_text(encoding="utf-8"))
    assert (playbook.default.leverage, playbook.default.max_hold) == (2.4, pd.Timedelta(hours=36))
    assert store.session("s1").status == "pending"

    approvals.reject_items("s1", ["r4", "r5"], "bob")
    assert store.session("s1").status == "applied"


def test_apply_safe_takes_only_low_risk_items(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    outcome = approvals.apply_safe("s1", "alice")

    assert outcome.applied == ("r2", "r3", "r4")
    assert outcome.message == "applied 3 changes as version 2; 2 left pending for review"
    assert statuses(store) == {
        "r1": "pending",
        "r2": "applied",
        "r3": "applied",
        "r4": "applied",
        "r5": "pending",
    }
    assert store.session("s1").status == "pending"
    assert parse_playbook(live.read_text(encoding="utf-8")).default.leverage == 2.0

    nothing = approvals.apply_safe("s1", "alice")
    assert (nothing.applied, nothing.unchanged, nothing.new_version) == ((), ("r2", "r3", "r4"), None)


def test_auto_apply_acts_as_auto_on_low_risk_items(approvals: Approvals, store: Store) -> None:
    make_session(store)
    outcome = approvals.auto_apply("s1")

    assert (outcome.action, outcome.applied) == ("apply_safe", ("r2", "r3", "r4"))
    assert {d.actor for d in store.decisions("s1")} == {AUTO_ACTOR}
    assert store.playbook_version(2).author == AUTO_ACTOR


# --- rejecting ------------------------------------------------------------------------------------


def test_reject_all_changes_no_playbook(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    outcome = approvals.reject_all("s1", "alice")

    assert outcome.rejected == ("r1", "r2", "r3", "r4", "r5") and outcome.new_version is None
    assert outcome.message == "rejected 5 items"
    assert live.read_text(encoding="utf-8") == LIVE
    assert len(store.playbook_versions()) == 1
    assert store.session("s1").status == "rejected"
    assert {(d.action, d.result_version) for d in store.decisions("s1")} == {("reject_all", None)}

    again = approvals.reject_all("s1", "alice")
    assert (again.rejected, again.unchanged) == ((), outcome.rejected)
    nothing = approvals.apply_all("s1", "alice")
    assert nothing.new_version is None and len(store.playbook_versions()) == 1


def test_rejected_items_stay_out_of_a_later_apply_all(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    approvals.reject_items("s1", ["r1"], "alice")
    outcome = approvals.apply_all("s1", "alice")

    assert outcome.applied == ("r2", "r3", "r4", "r5") and outcome.unchanged == ("r1",)
    assert parse_playbook(live.read_text(encoding="utf-8")).default.leverage == 2.0
    assert store.session("s1").status == "applied"


# --- stale and expired ----------------------------------------------------------------------------


def test_a_session_is_stale_once_another_version_is_live(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    store.publish_playbook(live, LIVE.replace("position_size: 0.1", "position_size: 0.2"), author="x", reason="y")
    before = snapshot(store, live)

    outcome = approvals.apply_all("s1", "alice")

    assert outcome.message.startswith("stale, re-run tune")
    assert "computed on version 1" in outcome.message and "version 2 is live" in outcome.message
    assert (outcome.applied, outcome.new_version) == ((), None)
    assert snapshot(store, live) == before
    entry = store.audit_log(1)[0]
    assert (entry.actor, entry.event, entry.detail["reason"]) == (
        "alice",
        "decision_refused",
        "stale, re-run tune",
    )
    # Rejecting a stale session writes no playbook, so it stays possible.
    assert approvals.reject_all("s1", "alice").rejected == ("r1", "r2", "r3", "r4", "r5")


def test_a_hand_edit_of_the_live_file_makes_the_session_stale(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    edited = LIVE.replace("stop_loss: 0.02", "stop_loss: 0.03")
    live.write_text(edited, encoding="utf-8")

    outcome = approvals.apply_items("s1", ["r1"], "alice")

    assert outcome.message.startswith("stale, re-run tune")
    assert "edited by hand (registered as version 2)" in outcome.message
    assert live.read_text(encoding="utf-8") == edited
    assert store.latest_playbook_version().text == edited  # type: ignore[union-attr]
    assert statuses(store)["r1"] == "pending"


def test_applying_one_session_makes_a_sibling_stale(approvals: Approvals, store: Store) -> None:
    make_session(store, "s1")
    make_session(store, "s2")
    assert approvals.apply_items("s1", ["r1"], "alice").new_version == 2

    outcome = approvals.apply_items("s2", ["r2"], "alice")

    assert outcome.message.startswith("stale, re-run tune") and outcome.new_version is None
    assert len(store.playbook_versions()) == 2


def test_an_item_whose_current_value_moved_is_stale(approvals: Approvals, store: Store, live: Path) -> None:
    items = (
        ("a", "default", "leverage", 2.0, 2.4, "medium"),
        ("b", "default", "leverage", 2.0, 2.2, "medium"),
    )
    make_session(store, items=items)
    approvals.apply_items("s1", ["a"], "alice")

    outcome = approvals.apply_items("s1", ["b"], "alice")

    assert outcome.message == "stale, re-run tune: item b expects default.leverage = 2.0, the live playbook has 2.4"
    assert len(store.playbook_versions()) == 2


def test_an_overdue_session_is_refused_and_expired(
    approvals: Approvals, store: Store, live: Path, clock: Clock
) -> None:
    make_session(store)
    approvals.apply_items("s1", ["r1"], "alice")
    clock.now = T0 + timedelta(hours=24)  # exactly at expires_at

    outcome = approvals.apply_all("s1", "alice")

    assert outcome == DecisionOutcome("s1", "expire", (), (), ("r1",), None, outcome.message)
    assert outcome.message == "expired at 2024-03-02 12:00 UTC, re-run tune"
    assert store.session("s1").status == "expired"
    assert statuses(store) == {
        "r1": "applied",
        "r2": "expired",
        "r3": "expired",
        "r4": "expired",
        "r5": "expired",
    }
    assert len(store.playbook_versions()) == 2
    last = store.decisions("s1")[-1]
    assert (last.recommendation_id, last.action, last.actor) == (None, "expire", EXPIRY_ACTOR)

    before = snapshot(store, live)
    assert approvals.reject_items("s1", ["r2"], "alice").action == "expire"
    assert snapshot(store, live) == before


def test_expire_overdue_and_pending(approvals: Approvals, store: Store, clock: Clock) -> None:
    make_session(store, "old")
    later = SessionRecord("new", T0, T0 + timedelta(hours=30), "pending", 1, {})
    store.save_session(later, [])
    make_session(store, "done")
    approvals.reject_all("done", "alice")
    assert [s.id for s in approvals.pending()] == ["new", "old"]

    clock.now = T0 + timedelta(hours=24)  # exactly at the expiry of "old"
    assert [s.id for s in approvals.pending()] == ["new"]
    assert approvals.expire_overdue() == ["old"]
    assert store.session("old").status == "expired" and store.session("done").status == "rejected"
    assert set(statuses(store, "old").values()) == {"expired"}
    assert approvals.expire_overdue() == []


# --- errors change nothing ------------------------------------------------------------------------


def test_unknown_sessions_and_items_are_errors(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store, "s1")
    make_session(store, "s2", (("x9", "default", "leverage", 2.0, 2.2, "medium"),))
    before = snapshot(store, live)

    with pytest.raises(DecisionError, match="no session nope"):
        approvals.apply_all("nope", "alice")
    with pytest.raises(DecisionError, match=r"session s1 has no item r7; its items are: r1, r2, r3, r4, r5"):
        approvals.apply_items("s1", ["r1", "r7"], "alice")
    with pytest.raises(DecisionError, match=r"no item x9 \(an item of session s2\)"):
        approvals.reject_items("s1", ["x9"], "alice")
    with pytest.raises(DecisionError, match="name at least one item"):
        approvals.apply_items("s1", [], "alice")
    with pytest.raises(DecisionError, match="needs an actor"):
        approvals.apply_all("s1", "  ")
    assert snapshot(store, live) == before


def test_a_change_outside_the_bounds_writes_nothing(approvals: Approvals, store: Store, live: Path) -> None:
    items = (
        ("ok", "default", "stop_loss", 0.02, 0.018, "low"),
        ("big", "default", "leverage", 2.0, 12.0, "high"),
    )
    make_session(store, items=items)
    before = snapshot(store, live)

    with pytest.raises(DecisionError, match=r"default\.leverage.*outside the bounds \[1, 10\]") as raised:
        approvals.apply_all("s1", "alice")

    assert "nothing was changed" in str(raised.value)
    assert snapshot(store, live) == before
    assert store.decisions("s1") == []


def test_two_items_setting_one_key_cannot_be_applied_together(approvals: Approvals, store: Store, live: Path) -> None:
    items = (
        ("a", "default", "leverage", 2.0, 2.4, "medium"),
        ("b", "default", "leverage", 2.0, 2.2, "medium"),
    )
    make_session(store, items=items)
    before = snapshot(store, live)
    with pytest.raises(DecisionError, match=r"items a and b both set default\.leverage"):
        approvals.apply_all("s1", "alice")
    assert snapshot(store, live) == before


@pytest.mark.parametrize(
    ("parameter", "proposed", "expected"),
    [
        ("max_hold", "soon", "is not a duration"),
        ("max_hold", 36, "must be a duration text"),
        ("leverage", "2.4", "must be a finite number"),
        ("leverage", None, "must be a finite number"),
        ("levrage", 2.4, "unknown parameter"),
    ],
)
def test_a_malformed_recommendation_is_an_error(
    approvals: Approvals, store: Store, live: Path, parameter: str, proposed: Any, expected: str
) -> None:
    make_session(store, items=(("bad", "default", parameter, 2.0, proposed, "low"),))
    before = snapshot(store, live)
    with pytest.raises(DecisionError, match=f"session s1, item bad .*{expected}"):
        approvals.apply_all("s1", "alice")
    assert snapshot(store, live) == before


# --- rollback -------------------------------------------------------------------------------------


def test_rollback_publishes_the_old_text_as_a_new_version(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    approvals.apply_all("s1", "alice")

    new = approvals.rollback(1, "bob", "drawdown after the change")

    assert new == 3
    assert live.read_bytes() == LIVE.encode("utf-8")
    version = store.playbook_version(3)
    assert (version.author, version.parent) == ("bob", 2)
    assert version.reason == "rollback to version 1: drawdown after the change"
    assert store.audit_log(1)[0].detail["rolled_back_to"] == 1


def test_rollback_refuses_unknown_live_and_unexplained_versions(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)
    approvals.apply_all("s1", "alice")
    before = snapshot(store, live)

    with pytest.raises(DecisionError, match=r"no playbook version 9.*versions are 1 to 2"):
        approvals.rollback(9, "bob", "oops")
    with pytest.raises(DecisionError, match="version 2 is the live version"):
        approvals.rollback(2, "bob", "oops")
    with pytest.raises(DecisionError, match="give a reason"):
        approvals.rollback(1, "bob", " ")
    assert snapshot(store, live) == before


def test_a_rollback_is_refused_when_another_version_is_published_meanwhile(
    approvals: Approvals, rival: Approvals, store: Store, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store)
    approvals.apply_all("s1", "alice")
    other = LIVE.replace("position_size: 0.1", "position_size: 0.2")
    interleave(
        monkeypatch,
        store,
        "register_live_playbook",
        lambda: rival.store.publish_playbook(live, other, author="x", reason="y"),
    )

    with pytest.raises(
        DecisionError, match=r"version 3 was published meanwhile \(version 2 was live.*nothing was changed"
    ):
        approvals.rollback(1, "bob", "drawdown")

    assert [v.version for v in store.playbook_versions()] == [1, 2, 3]
    assert live.read_text(encoding="utf-8") == other


def test_rollback_keeps_a_hand_edit_in_the_history(approvals: Approvals, store: Store, live: Path) -> None:
    edited = LIVE.replace("stop_loss: 0.02", "stop_loss: 0.03")
    live.write_text(edited, encoding="utf-8")

    assert approvals.rollback(1, "bob", "undo the hand edit") == 3
    assert store.playbook_version(2).text == edited
    assert live.read_text(encoding="utf-8") == LIVE


# --- two deciders at once: the Telegram bot and the CLI on one store --------------------------------


@pytest.fixture
def rival(tmp_path: Path, live: Path, clock: Clock) -> Iterator[Approvals]:
    """A second process's view: its own connection to the same store and live file."""
    with Store(tmp_path / "state" / "store.db") as opened:
        yield Approvals(opened, live, clock=clock)


def interleave(
    monkeypatch: pytest.MonkeyPatch, store: Store, method: str, other: Callable[[], object], *, before: bool = False
) -> None:
    """Run ``other`` (another process's decision) once, right after ``store``'s next call of ``method``
    (right before it with ``before``): a deterministic stand-in for a race."""
    real = getattr(store, method)

    def raced(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(store, method, real)
        if before:
            other()
        result = real(*args, **kwargs)
        if not before:
            other()
        return result

    monkeypatch.setattr(store, method, raced)


def test_a_version_published_between_the_check_and_the_publish_makes_the_apply_stale(
    approvals: Approvals, rival: Approvals, store: Store, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store, "s1")
    make_session(store, "s2")
    seen: dict[str, Any] = {}

    def rival_applies_s2() -> None:
        seen["outcome"] = rival.apply_items("s2", ["r2"], "bob")
        seen["after"] = snapshot(rival.store, live)

    # This call has checked the live version (1) and built its text when the rival publishes.
    interleave(monkeypatch, store, "publish_playbook", rival_applies_s2, before=True)
    outcome = approvals.apply_all("s1", "alice")

    assert seen["outcome"].new_version == 2
    assert outcome == DecisionOutcome(
        "s1",
        "apply_all",
        (),
        (),
        (),
        None,
        f"{STALE}: version 2 was published meanwhile (version 1 was live when checked)",
    )
    # No lost update: the rival's version stays live, and nothing of s1 was written.
    assert snapshot(store, live) == seen["after"]
    assert [v.version for v in store.playbook_versions()] == [1, 2]
    playbook = parse_playbook(live.read_text(encoding="utf-8"))
    assert (playbook.default.stop_loss, playbook.default.leverage) == (0.018, 2.0)
    assert set(statuses(store, "s1").values()) == {"pending"} and store.session("s1").status == "pending"
    assert store.decisions("s1") == []
    entry = store.audit_log(1)[0]
    assert (entry.actor, entry.event, entry.detail["reason"]) == ("alice", "decision_refused", STALE)
    # Once it is seen, the new version makes s1 stale the ordinary way.
    assert approvals.apply_all("s1", "alice").message.startswith(f"{STALE}: computed on version 1")


@pytest.mark.parametrize(
    ("method", "before", "expected"),
    [
        # The rival applied s1 before this call read the session's decisions,
        ("decisions", True, "nothing to apply; 5 already decided"),
        # after it registered the live version,
        ("register_live_playbook", False, "nothing to apply; 5 already decided"),
        # after it checked everything, just before it publishes.
        ("publish_playbook", True, f"{STALE}: version 2 was published meanwhile"),
    ],
)
def test_one_session_applied_by_two_deciders_at_once_publishes_one_version(
    approvals: Approvals,
    rival: Approvals,
    store: Store,
    live: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    before: bool,
    expected: str,
) -> None:
    make_session(store)
    won: list[DecisionOutcome] = []
    interleave(monkeypatch, store, method, lambda: won.append(rival.apply_all("s1", "bob")), before=before)

    outcome = approvals.apply_all("s1", "alice")

    assert won[0].new_version == 2 and won[0].applied == ("r1", "r2", "r3", "r4", "r5")
    assert outcome.message.startswith(expected)
    assert (outcome.applied, outcome.new_version) == ((), None)
    assert [v.version for v in store.playbook_versions()] == [1, 2]
    assert live.read_text(encoding="utf-8") == store.playbook_version(2).text
    assert [(d.actor, d.result_version) for d in store.decisions("s1")] == [("bob", 2)] * 5
    assert store.session("s1").status == "applied"


def test_a_rejection_racing_an_apply_counts_each_item_once(
    approvals: Approvals, rival: Approvals, store: Store, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store)
    interleave(monkeypatch, store, "publish_playbook", lambda: rival.reject_items("s1", ["r1"], "bob"), before=True)

    outcome = approvals.apply_items("s1", ["r1", "r2"], "alice")

    # The version was checked and built before the rejection: it holds r1's change, and says so.
    assert outcome == DecisionOutcome(
        "s1",
        "apply_items",
        ("r2",),
        (),
        ("r1",),
        2,
        "applied 1 change as version 2; 1 already decided; "
        "r1 was decided meanwhile by another call, yet version 2 holds its change; 3 left pending for review",
    )
    assert parse_playbook(live.read_text(encoding="utf-8")).default.leverage == 2.4
    assert statuses(store) == {"r1": "rejected", "r2": "applied", "r3": "pending", "r4": "pending", "r5": "pending"}
    assert [(d.recommendation_id, d.action, d.actor) for d in store.decisions("s1")] == [
        ("r1", "reject_items", "bob"),
        ("r2", "apply_items", "alice"),
    ]
    assert store.audit_log(1)[0].detail["items"] == ["r2"]


def test_two_rejections_at_once_count_each_item_once(
    approvals: Approvals, rival: Approvals, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store, "s1")
    make_session(store, "s2")
    # The rival rejects after this call loaded the items as pending, before it claims them.
    interleave(
        monkeypatch, store, "claim_recommendations", lambda: rival.reject_items("s1", ["r1", "r2"], "bob"), before=True
    )
    partly = approvals.reject_all("s1", "alice")
    interleave(monkeypatch, store, "claim_recommendations", lambda: rival.reject_all("s2", "bob"), before=True)
    audit_before = len(store.audit_log())
    none = approvals.reject_all("s2", "alice")

    assert (partly.rejected, partly.unchanged) == (("r3", "r4", "r5"), ("r1", "r2"))
    assert partly.message == "rejected 3 items; 2 already decided"
    assert [(d.recommendation_id, d.actor) for d in store.decisions("s1")] == [
        ("r1", "bob"),
        ("r2", "bob"),
        ("r3", "alice"),
        ("r4", "alice"),
        ("r5", "alice"),
    ]
    assert store.session("s1").status == "rejected"
    assert none == DecisionOutcome(
        "s2", "reject_all", (), (), ("r1", "r2", "r3", "r4", "r5"), None, "nothing to reject; 5 already decided"
    )
    assert {d.actor for d in store.decisions("s2")} == {"bob"}
    # Only the rival's decision entry was added; this call recorded nothing.
    assert len(store.audit_log()) == audit_before + 1
    assert store.audit_log(1)[0].actor == "bob"


SESSIONS_RACED = 20


def apply_in_turns(db: Path, live: Path, role: int, barrier: Any, results: Any) -> None:
    """One of two processes applying each session at the same moment as the other (role 0 makes them)."""
    with Store(db) as store:
        approvals = Approvals(store, live, clock=Clock(T0 + timedelta(hours=1)))
        outcomes: list[str] = []
        for n in range(SESSIONS_RACED):
            barrier.wait()
            if role == 0:
                latest = store.latest_playbook_version()
                assert latest is not None
                current, proposed = (2.0, 3.0) if n % 2 == 0 else (3.0, 2.0)
                item = ("r1", "default", "leverage", current, proposed, "medium")
                make_session(store, f"s{n}", (item,), version=latest.version)
            barrier.wait()
            try:
                outcome = approvals.apply_all(f"s{n}", f"worker{role}")
            except StoreError as exc:
                if "another publish is in progress" not in str(exc):
                    raise
                outcomes.append("busy")
                continue
            outcomes.append("applied" if outcome.new_version is not None else outcome.message)
        results.put((role, outcomes))


def test_two_processes_applying_each_session_at_once_publish_one_version_per_session(store: Store, live: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2, timeout=60)
    results = context.Queue()
    workers = [
        context.Process(target=apply_in_turns, args=(store.path, live, role, barrier, results)) for role in (0, 1)
    ]
    for worker in workers:
        worker.start()
    outcomes = dict(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    for n, pair in enumerate(zip(outcomes[0], outcomes[1], strict=True)):
        assert sorted(pair)[0] == "applied", (n, pair)
        loser = sorted(pair)[1]
        assert loser == "busy" or loser.startswith((STALE, "nothing to apply")), (n, pair)
    versions = store.playbook_versions()
    assert [v.version for v in versions] == list(range(1, SESSIONS_RACED + 2))
    assert all(v.parent == v.version - 1 for v in versions[1:])
    assert live.read_text(encoding="utf-8") == versions[-1].text
    for n in range(SESSIONS_RACED):
        (decision,) = store.decisions(f"s{n}")
        assert decision.result_version == n + 2
        assert store.session(f"s{n}").status == "applied"


def test_rollback_without_a_version_undoes_and_never_redoes(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store, items=(STANDARD[0],))
    approvals.apply_all("s1", "alice")
    make_session(store, "s2", items=(("r1", "default", "position_size", 0.1, 0.12, "low"),), version=2)
    approvals.apply_all("s2", "alice")
    texts = {v.version: v.text for v in store.playbook_versions()}

    assert approvals.undo_target() == 2  # undo s2's change
    assert approvals.rollback(approvals.undo_target(), "bob", "undo") == 4
    assert live.read_text(encoding="utf-8") == texts[2]
    assert approvals.undo_target() == 1  # then s1's: never back to version 3
    assert approvals.rollback(approvals.undo_target(), "bob", "undo") == 5
    assert live.read_bytes() == LIVE.encode("utf-8")
    before = snapshot(store, live)
    with pytest.raises(DecisionError, match="nothing to roll back: the live version 5 holds the text of version 1"):
        approvals.undo_target()
    assert snapshot(store, live) == before


def test_rollback_without_a_version_on_a_fresh_store_is_refused(approvals: Approvals) -> None:
    with pytest.raises(DecisionError, match=r"nothing to roll back: the live version 1 the first version"):
        approvals.undo_target()


def test_safe_only_with_items_applies_only_the_low_risk_ones(approvals: Approvals, store: Store, live: Path) -> None:
    make_session(store)

    refused = approvals.apply_items("s1", ["r1", "r5"], "alice", safe_only=True)
    assert not refused.changed
    assert refused.message == (
        "nothing to apply; safe-only applies low-risk changes only, not r1 (medium risk), r5 (high risk); "
        "5 left pending for review"
    )
    assert statuses(store)["r1"] == "pending"

    mixed = approvals.apply_items("s1", ["r1", "r2"], "alice", safe_only=True)
    assert mixed.changed and mixed.applied == ("r2",)
    assert "not r1 (medium risk)" in mixed.message
    assert statuses(store) == {"r1": "pending", "r2": "applied", "r3": "pending", "r4": "pending", "r5": "pending"}
