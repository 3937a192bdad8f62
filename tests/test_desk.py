"""The channel-neutral desk over a real store and live file: who may decide, the schedule, decisions by
button vocabulary and by command, rollback's default, status, history, and a desk on the store alone."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from framework.config import (
    FREQTRADE_PASSWORD_ENV_VAR,
    FREQTRADE_USERNAME_ENV_VAR,
    FreqtradeImportSettings,
    Settings,
)
from framework.decisions import DecisionError, NothingToRollBack
from framework.desk import Access, Schedule, TuningDesk
from framework.errors import PlaybookTunerError
from framework.pipeline import TuneFiles
from framework.playbook import load_playbook
from framework.store import RecommendationRecord, SessionRecord, Store
from tests.clock import Clock
from tests.fake_freqtrade_api import PASSWORD, USERNAME, FakeFreqtradeApi, closed_port_url

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
LIVE = textwrap.dedent(
    """\
    # the live playbook
    default:
      leverage: 2.0
      stop_loss: 0.02
      risk_reward_ratio: 2.0
      confidence_threshold: 0.7
      position_size: 0.1
      max_hold: 48h
    bounds:
      leverage: [1, 10]
    """
)
ITEMS = (("r1", "leverage", 2.0, 2.4, "medium"), ("r2", "stop_loss", 0.02, 0.018, "low"))
"""(id, parameter, current, proposed, risk) of the default regime."""


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> TuningDesk:
    """A desk on a live playbook in ``tmp_path`` (its store beside it), registered as version 1."""
    live = tmp_path / "playbook.yaml"
    live.write_text(LIVE, encoding="utf-8")
    files = TuneFiles(tmp_path / "trades.csv", tmp_path / "prices", live)
    with Store(files.store_path) as store:
        store.register_live_playbook(live)
    settings = Settings.model_validate({"retraining_frequency": 3, "telegram": {"allowed_user_ids": [7]}})
    return TuningDesk(files, settings, clock=clock)


def save_session(desk: TuningDesk, session_id: str, *, age: timedelta = timedelta(0), hours: int = 24) -> str:
    """A pending session of ITEMS on the live version, created ``age`` before the clock's now."""
    created = desk.clock() - age
    with Store(desk.store_path) as store:
        live = store.latest_playbook_version()
        assert live is not None
        session = SessionRecord(session_id, created, created + timedelta(hours=hours), "pending", live.version, {})
        store.save_session(
            session,
            [
                RecommendationRecord(rec, session_id, "default", name, now, new, risk, 0.9, "pending", {})
                for rec, name, now, new, risk in ITEMS
            ],
        )
    return session_id


def statuses(desk: TuningDesk, session_id: str) -> dict[str, str]:
    with Store(desk.store_path) as store:
        return {rec.id: rec.status for rec in store.recommendations(session_id)}


def authors(desk: TuningDesk) -> list[str]:
    return [version.author for version in desk.history(limit=None)]


# --- who may decide, and when -----------------------------------------------------------------------


def test_access_needs_an_allowed_user_in_an_allowed_chat() -> None:
    access = Access(frozenset({7}), frozenset({7, -100}))
    assert access.allows(7, 7) and access.allows(7, -100)
    assert not access.allows(8, 7), "a stranger in an allowed chat"
    assert not access.allows(7, -200), "an allowed user in another chat"
    assert not access.allows(None, 7) and not access.allows(7, None), "an update without a sender or chat"
    assert not access.refuses_everyone
    nobody = Access(frozenset({7}), frozenset())
    assert nobody.refuses_everyone and not nobody.allows(7, 7), "an empty list refuses everyone"


def test_the_desks_access_is_the_telegram_configuration(desk: TuningDesk) -> None:
    assert desk.access == Access(frozenset({7}), frozenset())
    assert desk.access.refuses_everyone, "no chat allowed yet"


def test_the_schedule_counts_from_the_last_session(tmp_path: Path) -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    files = TuneFiles(tmp_path / "t.csv", tmp_path, tmp_path / "playbook.yaml")
    desk = TuningDesk(files, Settings(retraining_frequency=3), clock=lambda: now)
    assert desk.next_tune_due() == now + timedelta(days=3)
    (tmp_path / "playbook.yaml").write_text("default:\n  leverage: 2.0\n")
    with Store(files.store_path) as store:
        store.register_live_playbook(files.playbook)
        store.save_session(SessionRecord("s1", now - timedelta(days=1), now, "expired", 1, {}), [])
    assert desk.next_tune_due() == now + timedelta(days=2)
    late = TuningDesk(files, Settings(retraining_frequency=3), clock=lambda: now + timedelta(days=10))
    assert late.next_tune_due() == now + timedelta(days=10), "an overdue run is due at once"


def test_status_says_when_the_next_tune_is_due_only_while_scheduled(desk: TuningDesk, clock: Clock) -> None:
    assert desk.schedule == Schedule(True, timedelta(days=3))
    save_session(desk, "s1", age=timedelta(days=1))
    assert desk.status().next_tune == NOW + timedelta(days=2)
    off = TuningDesk(desk.files, Settings.model_validate({"telegram": {"scheduled_tuning": False}}), clock=clock)
    assert off.status().next_tune is None


# --- decisions ------------------------------------------------------------------------------------


def test_each_button_decision_goes_through_the_approval_core(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    approved = desk.decide("approve", "s1", "r2", "telegram:7")
    assert approved.applied == ("r2",) and approved.new_version == 2
    declined = desk.decide("decline", "s1", "r1", "telegram:7")
    assert declined.rejected == ("r1",)
    assert statuses(desk, "s1") == {"r1": "rejected", "r2": "applied"}
    assert load_playbook(desk.files.playbook).value("default", "stop_loss") == pytest.approx(0.018)

    save_session(desk, "s2")
    rejected = desk.decide("reject", "s2", None, "telegram:7")
    assert rejected.rejected == ("r1", "r2") and statuses(desk, "s2") == {"r1": "rejected", "r2": "rejected"}
    assert len(desk.history(limit=None)) == 2, "a rejection publishes nothing"


def test_safe_applies_the_low_risk_change_and_apply_the_rest(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    safe = desk.decide("safe", "s1", None, "telegram:7")
    assert safe.applied == ("r2",) and "1 left pending for review" in safe.message
    rest = desk.decide("apply", "s1", None, "telegram:7")
    assert rest.applied == ("r1",) and rest.new_version == 3
    assert authors(desk) == ["import", "telegram:7", "telegram:7"]


def test_a_repeated_decision_changes_nothing_and_is_audited_once(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    first = desk.decide("apply", "s1", None, "telegram:7")
    again = desk.decide("apply", "s1", None, "telegram:7")
    assert first.changed and not again.changed
    assert again.unchanged == ("r1", "r2") and "nothing to apply" in again.message
    assert len(desk.history(limit=None)) == 2, "one version for two presses"
    with Store(desk.store_path) as store:
        decisions = [entry for entry in store.audit_log() if entry.event == "decision"]
    assert [(entry.actor, entry.detail["items"]) for entry in decisions] == [("telegram:7", ["r1", "r2"])]


def test_unknown_decisions_and_items_are_refused(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    with pytest.raises(DecisionError, match="unknown decision 'merge'"):
        desk.decide("merge", "s1", None, "telegram:7")
    with pytest.raises(DecisionError, match="approve needs an item of session s1"):
        desk.decide("approve", "s1", None, "telegram:7")
    with pytest.raises(DecisionError, match="has no item r9"):
        desk.decide("approve", "s1", "r9", "telegram:7")
    with pytest.raises(DecisionError, match="no-such-session"):
        desk.apply("no-such-session", "cli")
    assert statuses(desk, "s1") == {"r1": "pending", "r2": "pending"}
    assert len(desk.history(limit=None)) == 1


def test_apply_without_a_session_takes_the_newest_pending(desk: TuningDesk) -> None:
    with pytest.raises(DecisionError, match="no session is awaiting a decision"):
        desk.apply(None, "cli")
    save_session(desk, "old", age=timedelta(hours=2))
    save_session(desk, "new", age=timedelta(hours=1))
    outcome = desk.apply(None, "cli", items=["r2"])
    assert outcome.session_id == "new" and outcome.applied == ("r2",)
    assert statuses(desk, "old") == {"r1": "pending", "r2": "pending"}


def test_an_overdue_session_is_expired_and_every_decision_refused(desk: TuningDesk, clock: Clock) -> None:
    save_session(desk, "s1", hours=1)
    clock.now = NOW + timedelta(hours=2)
    assert desk.status().pending == ()
    assert desk.view("s1").session.status == "expired"
    outcome = desk.decide("apply", "s1", None, "telegram:7")
    assert outcome.action == "expire" and not outcome.changed
    assert desk.reject("s1", "cli").action == "expire"
    assert len(desk.history(limit=None)) == 1


# --- rollback -------------------------------------------------------------------------------------


def test_rollback_without_a_version_undoes_once_and_never_redoes(desk: TuningDesk) -> None:
    with pytest.raises(NothingToRollBack, match="nothing to roll back: the live version 1"):
        desk.rollback(None, "cli", "undo")
    save_session(desk, "s1")
    desk.apply("s1", "cli")
    done = desk.rollback(None, "telegram:7", "rollback from Telegram by telegram:7")
    assert (done.target, done.new) == (1, 3)
    assert desk.files.playbook.read_text(encoding="utf-8") == LIVE, "the first version's text, byte for byte"
    with pytest.raises(NothingToRollBack, match="the live version 3 holds the text of version 1"):
        desk.rollback(None, "telegram:7", "again")
    assert desk.history(limit=1)[0].reason == "rollback to version 1: rollback from Telegram by telegram:7"
    with pytest.raises(DecisionError, match="version 3 is the live version"):
        desk.rollback(3, "cli", "to itself")


# --- telling freqtrade ----------------------------------------------------------------------------


@pytest.fixture
def freqtrade(desk: TuningDesk, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFreqtradeApi]:
    """A fake freqtrade API that records the live playbook's text as each request arrives."""
    monkeypatch.delenv(FREQTRADE_USERNAME_ENV_VAR, raising=False)
    monkeypatch.delenv(FREQTRADE_PASSWORD_ENV_VAR, raising=False)
    with FakeFreqtradeApi(on_request=lambda: desk.files.playbook.read_text(encoding="utf-8")).running() as server:
        yield server


def telling(desk: TuningDesk, url: str, password: str = PASSWORD) -> TuningDesk:
    """``desk`` with ``[freqtrade] api_url = url`` and the server's username."""
    api = FreqtradeImportSettings.model_validate({"api_url": url, "api_username": USERNAME, "api_password": password})
    return TuningDesk(desk.files, desk.settings.model_copy(update={"freqtrade": api}), clock=desk.clock)


def test_freqtrade_is_told_after_the_new_version_is_written(desk: TuningDesk, freqtrade: FakeFreqtradeApi) -> None:
    desk = telling(desk, freqtrade.url)
    save_session(desk, "s1")
    approved = desk.decide("approve", "s1", "r2", "telegram:7")
    assert approved.message.endswith("1 left pending for review; freqtrade told to reload its config")
    (reload,) = freqtrade.reloads()
    assert reload.credentials == (USERNAME, PASSWORD)
    assert reload.seen == desk.history(limit=1)[0].text != LIVE, "the file held version 2 when freqtrade was told"
    desk.decide("decline", "s1", "r1", "telegram:7")
    assert "nothing to apply" in desk.apply("s1", "cli").message
    assert len(freqtrade.reloads()) == 1, "a rejection, or an apply that applies nothing, tells freqtrade nothing"


def test_a_wrong_password_leaves_the_apply_done_and_says_why(desk: TuningDesk, freqtrade: FakeFreqtradeApi) -> None:
    desk = telling(desk, freqtrade.url, password="wrong-one")
    save_session(desk, "s1")
    outcome = desk.apply("s1", "cli")
    assert outcome.applied == ("r1", "r2") and outcome.new_version == 2
    assert outcome.message.startswith(
        f"applied 2 changes as version 2; freqtrade not told: {freqtrade.url} refused the username and password"
    )
    assert "wrong-one" not in outcome.message
    assert statuses(desk, "s1") == {"r1": "applied", "r2": "applied"}
    assert load_playbook(desk.files.playbook).value("default", "leverage") == pytest.approx(2.4)
    assert len(freqtrade.reloads()) == 1


def test_freqtrade_down_leaves_the_apply_done_and_says_so(desk: TuningDesk) -> None:
    url = closed_port_url()
    desk = telling(desk, url)
    save_session(desk, "s1")
    outcome = desk.apply("s1", "cli")
    assert outcome.new_version == 2 and statuses(desk, "s1") == {"r1": "applied", "r2": "applied"}
    assert outcome.message.endswith(f"freqtrade not told: could not connect to {url}: is freqtrade running, "
                                    "with its api_server enabled?")  # fmt: skip
    assert [v.version for v in desk.history(limit=None)] == [1, 2]


def test_without_an_api_url_freqtrade_is_not_told(desk: TuningDesk, freqtrade: FakeFreqtradeApi) -> None:
    save_session(desk, "s1")
    outcome = desk.apply("s1", "cli")
    assert outcome.new_version == 2 and "freqtrade" not in outcome.message
    assert desk.rollback(None, "cli", "undo").freqtrade is None
    assert freqtrade.received == []


def test_a_rollback_tells_freqtrade_too(desk: TuningDesk, freqtrade: FakeFreqtradeApi) -> None:
    desk = telling(desk, freqtrade.url)
    save_session(desk, "s1")
    desk.apply("s1", "cli")
    done = desk.rollback(None, "cli", "undo")
    assert done.new == 3 and done.freqtrade is not None and done.freqtrade.told
    assert [r.seen for r in freqtrade.reloads()][-1] == LIVE, "told once version 3 (version 1's text) was written"


# --- looking things up ----------------------------------------------------------------------------


def test_status_lists_the_recent_sessions_and_the_pending_ones(desk: TuningDesk) -> None:
    save_session(desk, "s-old", age=timedelta(days=9), hours=24 * 30)
    save_session(desk, "s-new", age=timedelta(hours=1))
    status = desk.status(recent=timedelta(days=7))
    assert [s.id for s in status.pending] == ["s-old", "s-new"]
    assert [view.session.id for view in status.recent] == ["s-new"]
    assert [rec.id for rec in status.recent[0].recommendations] == ["r1", "r2"]
    assert status.since == NOW - timedelta(days=7)
    assert status.last_session is not None and status.last_session.id == "s-new"
    assert status.live_version is not None and status.live_version.version == 1


def test_view_defaults_to_the_newest_pending_session(desk: TuningDesk) -> None:
    save_session(desk, "s1", age=timedelta(hours=2))
    save_session(desk, "s2", age=timedelta(hours=1))
    view = desk.view()
    assert view.session.id == "s2" and [rec.id for rec in view.pending()] == ["r1", "r2"]
    with pytest.raises(DecisionError, match="no session nope"):
        desk.view("nope")


def test_history_keeps_the_newest_versions_oldest_first(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    desk.decide("approve", "s1", "r1", "cli")
    desk.decide("approve", "s1", "r2", "cli")
    assert [v.version for v in desk.history(limit=2)] == [2, 3]
    assert [v.version for v in desk.history(limit=None)] == [1, 2, 3]


# --- a desk on the store alone (the command line) ---------------------------------------------------


def test_a_desk_on_the_store_alone_decides_on_the_live_file_its_versions_name(desk: TuningDesk) -> None:
    save_session(desk, "s1")
    cli = TuningDesk.on_store(desk.store_path, clock=desk.clock)
    outcome = cli.apply("s1", "cli", safe_only=True)
    assert outcome.applied == ("r2",)
    assert load_playbook(desk.files.playbook).value("default", "stop_loss") == pytest.approx(0.018)
    assert cli.rollback(None, "cli", "undo").target == 1
    with pytest.raises(PlaybookTunerError, match="tuning needs the trade log, candles and playbook"):
        cli.tune()


def test_a_desk_on_an_empty_store_says_to_tune_first(tmp_path: Path) -> None:
    empty = TuningDesk.on_store(tmp_path / "store.sqlite")
    assert empty.status().live_version is None and empty.history() == []
    with pytest.raises(DecisionError, match="no playbook version yet: run tune first"):
        empty.rollback(None, "cli", "undo")


# --- proposing ------------------------------------------------------------------------------------


def test_propose_runs_the_tuners_and_the_safety_rules_and_stores_nothing(tmp_path: Path) -> None:
    from framework.sample import cached_sample

    sample = cached_sample()
    files = TuneFiles(sample.trades, sample.prices, sample.playbook, store=tmp_path / "store.sqlite")
    settings = Settings.model_validate({"tuners": ["risk_ratio"], "tuner_options": {"risk_ratio": {"trials": 8}}})
    steps: list[str] = []
    run = TuningDesk(files, settings).propose(steps.append)
    assert steps[0] == "loading the trade log, candles and playbook" and "risk_ratio" in steps
    assert {safe.proposal.tuner for safe in run.tuning.accepted} <= {"risk_ratio"}
    assert run.tuning.accepted or run.tuning.refused
    assert run.quality.score > 0 and len(run.context.trades) > 0 and run.regenerated is None
    assert not files.store_path.exists(), "nothing is validated or stored"
    with pytest.raises(PlaybookTunerError, match="either a signal log or strategies"):
        TuningDesk(TuneFiles(sample.trades, sample.prices, sample.playbook, sample.signals), settings).propose(
            strategies=["momentum"]
        )
