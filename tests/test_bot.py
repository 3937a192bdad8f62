"""The Telegram bot, run with the real python-telegram-bot client against a fake Bot API server on
127.0.0.1 (tests/fake_telegram.py): commands, the approval buttons, security, restart, the schedule.

Most tests decide on sessions stored by hand (known items and risks, instant); two run the real tune
pipeline through the bot on the embedded sample with a small search budget (~5 s each).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

import framework.store
from framework.bot import build_application
from framework.bot.app import SCHEDULED_JOB
from framework.config import FREQTRADE_PASSWORD_ENV_VAR, FreqtradeImportSettings, Settings
from framework.desk import TuningDesk
from framework.pipeline import TuneFiles
from framework.playbook import load_playbook
from framework.safety import risk_class
from framework.sample import EMBEDDED_SAMPLE_DAYS, cached_sample
from framework.store import RecommendationRecord, SessionRecord, Store
from tests.fake_freqtrade_api import USERNAME, FakeFreqtradeApi
from tests.fake_telegram import TOKEN, FakeBotApi, FakeMessage

USER = 1001
CHAT = USER  # the user's private chat with the bot
STRANGER = 6666
GROUP = -100500
FAST = {"tuner_options": {"risk_ratio": {"trials": 15}}, "validation": {"folds": 3, "spa_reps": 300}}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def make_desk(folder: Path, *, telegram: dict[str, Any] | None = None, trades: Path | None = None) -> TuningDesk:
    """A desk on the embedded sample's data with a copy of its playbook as the live file in ``folder``."""
    sample = cached_sample()
    live = folder / "playbook.yaml"
    if not live.exists():
        shutil.copy(sample.playbook, live)
    access = {"allowed_user_ids": [USER], "allowed_chat_ids": [CHAT], "scheduled_tuning": True}
    settings = Settings.model_validate({**FAST, "telegram": {**access, **(telegram or {})}})
    files = TuneFiles(trades or sample.trades, sample.prices, live, sample.signals)
    return TuningDesk(files, settings, lookback_days=EMBEDDED_SAMPLE_DAYS)


def store_session(desk: TuningDesk, changes: list[tuple[str, str, float]], *, age: timedelta = timedelta(0)) -> str:
    """Store a pending session with one recommendation per (regime, parameter, factor) on the live playbook."""
    playbook = load_playbook(desk.files.playbook)
    created = datetime.now(UTC) - age
    session_id = f"{created:%Y%m%d-%H%M%S}-t{len(changes)}{int(age.total_seconds()) % 97:02d}"
    recommendations = []
    for n, (regime, parameter, factor) in enumerate(changes, start=1):
        current = playbook.value(regime, parameter)
        assert isinstance(current, float)
        proposed = round(current * factor, 6)
        validation = {
            "p_value": 0.01,
            "dsr": 0.995,
            "n_trials": 40,
            "out_of_sample_trades": 150,
            "baseline": {"log_growth": 0.7, "sharpe": 1.1, "max_drawdown": -0.05},
            "candidate": {"log_growth": 0.75, "sharpe": 1.3, "max_drawdown": -0.05},
        }
        payload = {
            "tuner": "test",
            "rationale": f"{regime} {parameter} stored by the test",
            "change_pct": 100 * (factor - 1),
            "model": {"r2": 0.05, "mae": 0.01},
            "validation": validation,
        }
        risk = risk_class(parameter, regime, current, proposed)
        recommendations.append(
            RecommendationRecord(
                f"r{n}", session_id, regime, parameter, current, proposed, risk, 0.9, "pending", payload
            )
        )
    document = {
        "session_id": session_id,
        "trades_analyzed": 500,
        "data_quality": {"score": 91.0, "parts": {}},
        "rejected": [{"regime": "ranging", "parameter": "leverage", "tuner": "test", "reason": "p=0.4"}],
    }
    with Store(desk.files.store_path) as store:
        live = store.register_live_playbook(desk.files.playbook)
        expires = created + timedelta(hours=desk.settings.session_expiry_hours)
        store.save_session(
            SessionRecord(session_id, created, expires, "pending", live.version, document), recommendations
        )
    return session_id


MIXED = [("trending_up", "confidence_threshold", 1.1), ("ranging", "stop_loss", 1.15), ("volatile", "leverage", 1.25)]
"""A low-, a medium- and a high-risk change."""


@pytest.fixture
def pending(tmp_path: Path) -> tuple[TuningDesk, str]:
    """A desk whose store holds a pending session of the three MIXED changes, and that session's id."""
    desk = make_desk(tmp_path)
    return desk, store_session(desk, MIXED)


def run(scenario: Callable[[FakeBotApi], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        async with FakeBotApi() as api:
            await scenario(api)

    asyncio.run(main())


@asynccontextmanager
async def bot(api: FakeBotApi, desk: TuningDesk) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The bot's real Application on long polling against ``api``, set up as ``run_polling`` does."""
    app = build_application(desk, TOKEN, base_url=api.base_url)
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def summary_of(api: FakeBotApi, command: str = "/tune show", chat: int = CHAT) -> FakeMessage:
    """Send ``command`` and return the summary message with buttons the bot answers with."""
    before = len(api.sent(chat))
    api.send_text(command, user_id=USER, chat_id=chat)
    await api.wait_for(lambda: any(m.buttons() for m in api.sent(chat)[before:]))
    return next(m for m in api.sent(chat)[before:] if m.buttons())


async def press(api: FakeBotApi, message: FakeMessage, label: str, user: int = USER) -> dict[str, Any]:
    """Press the button labelled ``label`` (substring) and return the bot's answer."""
    data = next(d for text, d in message.buttons() if label in text)
    return await press_data(api, message, data, user)


async def press_data(api: FakeBotApi, message: FakeMessage, data: str, user: int = USER) -> dict[str, Any]:
    answered = len(api.answers)
    api.press(message, data, user_id=user)
    await api.wait_for(lambda: len(api.answers) > answered)
    await settle(api)
    return api.answers[answered]


async def settle(api: FakeBotApi) -> None:
    """Wait until the bot has confirmed every update and its calls have stopped for a moment."""
    await api.wait_for(api.all_updates_confirmed)
    count = -1
    while count != len(api.calls):
        count = len(api.calls)
        await asyncio.sleep(0.15)


async def reply_to(api: FakeBotApi, command: str) -> str:
    """Send ``command`` and return the text of the bot's next message."""
    before = len(api.sent(CHAT))
    api.send_text(command, user_id=USER)
    await api.wait_for(lambda: len(api.sent(CHAT)) > before)
    return api.sent(CHAT)[-1].text or ""


def statuses(desk: TuningDesk, session_id: str) -> dict[str, str]:
    with Store(desk.files.store_path) as store:
        return {rec.id: rec.status for rec in store.recommendations(session_id)} | {
            "session": store.session(session_id).status
        }


def versions(desk: TuningDesk) -> list[str]:
    with Store(desk.files.store_path) as store:
        return [f"{v.version}:{v.author}" for v in store.playbook_versions()]


# --- /tune through the real pipeline ----------------------------------------------------------------


def test_tune_shows_progress_summary_and_charts_then_apply_all_publishes_a_version(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    before = desk.files.playbook.read_text()

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            api.send_text("/tune", user_id=USER)
            await api.wait_for(lambda: len(api.calls_of("sendPhoto")) >= 1, timeout=120)
            await settle(api)
            board = api.sent(CHAT)[0]
            progress = [c.params["text"] for c in api.calls_of("editMessageText")]
            assert any("Analyzing 2231 trades from the last 120 days" in text for text in progress), progress
            assert "validated change" in (board.text or "")
            assert "proposals rejected by validation" in (board.text or "")
            labels = [text for text, _ in board.buttons()]
            assert [label.split(" ", 1)[1] for label in labels] == ["Apply All", "Safe Only", "Review", "Reject"]
            with Store(desk.files.store_path) as store:
                session = store.sessions()[-1]
                items = store.recommendations(session.id)
            assert items, "the sample's tune validates changes with this budget"
            for rec in items:
                assert f"{rec.id} {rec.parameter}: {rec.current:g} → {rec.proposed:g}" in (board.text or "")
            photos = [m for m in api.sent(CHAT) if m.photo]
            assert len(photos) == len(items) and all(p.photo and p.photo.startswith(b"\x89PNG") for p in photos)

            answer = await press(api, api.message(CHAT, board.message_id), "Apply All")
            assert f"applied {len(items)} change" in answer["text"]
            playbook = load_playbook(desk.files.playbook)
            for rec in items:
                assert playbook.value(rec.regime, rec.parameter) == pytest.approx(rec.proposed)
            assert versions(desk)[-1] == f"2:telegram:{USER}"
            assert set(statuses(desk, session.id).values()) == {"applied"}
            summary = api.message(CHAT, board.message_id)
            assert summary.reply_markup is None and "✅ applied" in (summary.text or "")

    run(scenario)
    assert desk.files.playbook.read_text() != before


def test_scheduled_job_pushes_a_validated_session_to_the_configured_chat(tmp_path: Path) -> None:
    desk = make_desk(tmp_path, telegram={"allowed_chat_ids": [CHAT, GROUP], "chat_id": GROUP})

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk) as app:
            assert app.job_queue is not None
            (job,) = app.job_queue.get_jobs_by_name(SCHEDULED_JOB)
            assert job.job.trigger.interval == timedelta(days=desk.settings.retraining_frequency)
            await job.run(app)
            await settle(api)
            pushed = api.sent(GROUP)
            assert pushed and pushed[0].buttons() and "validated change" in (pushed[0].text or "")
            assert any(m.photo for m in pushed) and not api.sent(CHAT)
            assert not api.calls_of("editMessageText"), "a scheduled run shows no progress"

    run(scenario)
    with Store(desk.files.store_path) as store:
        assert [s.status for s in store.sessions()] == ["pending"]


def test_a_failing_tune_says_why_and_stores_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "trades.csv"
    broken.write_text("entry_time,exit_time\nnot a time,2026-01-01\n")
    desk = make_desk(tmp_path, trades=broken)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            api.send_text("/tune", user_id=USER)
            await api.wait_for(lambda: "failed" in (api.sent(CHAT)[0].text or "") if api.sent(CHAT) else False)
            text = api.sent(CHAT)[0].text or ""
            assert "Tuning failed, nothing was stored" in text and str(broken) in text

    run(scenario)
    assert not desk.files.store_path.exists() or not Store(desk.files.store_path).sessions()


# --- decisions on stored sessions ---------------------------------------------------------------------


def test_safe_only_applies_only_the_low_risk_change(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            assert (
                "🟢 r1" in (summary.text or "") and "🟡 r2" in (summary.text or "") and "🔴 r3" in (summary.text or "")
            )
            answer = await press(api, summary, "Safe Only")
            assert "applied 1 change" in answer["text"] and "2 left pending" in answer["text"]
            after = api.message(CHAT, summary.message_id)
            assert len(after.buttons()) == 4, "medium and high risk changes still wait for a decision"

    run(scenario)
    assert statuses(desk, session_id) == {"r1": "applied", "r2": "pending", "r3": "pending", "session": "pending"}
    playbook = load_playbook(desk.files.playbook)
    assert playbook.value("trending_up", "confidence_threshold") == pytest.approx(0.33)
    assert playbook.value("ranging", "stop_loss") == pytest.approx(0.02)


def test_review_sends_each_change_with_its_evidence_and_decides_item_by_item(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            await press(api, summary, "Review")
            items = [m for m in api.sent(CHAT) if m.reply_to_message_id == summary.message_id]
            assert len(items) == 3
            for text in (
                "R2 0.050, MAE 0.0100",
                "data quality 91 %",
                "p-value 0.010, DSR 0.99, 40 candidates tried by the tuner",
            ):
                assert text in (items[0].text or "")
            assert "sharpe: 1.100 → 1.300" in (items[0].text or "")

            await press(api, items[0], "Approve")
            assert api.message(CHAT, items[0].message_id).reply_markup is None
            assert "✅ applied" in (api.message(CHAT, items[0].message_id).text or "")
            updated = api.message(CHAT, summary.message_id)
            assert "r1 confidence_threshold: 0.3 → 0.33 (confidence 90%) ✅ applied" in (updated.text or "")
            assert updated.buttons(), "two changes are still pending"

            await press(api, items[1], "Reject")
            await press(api, items[2], "Approve")
            final = api.message(CHAT, summary.message_id)
            assert final.reply_markup is None and "Session applied" in (final.text or "")

    run(scenario)
    assert statuses(desk, session_id) == {"r1": "applied", "r2": "rejected", "r3": "applied", "session": "applied"}
    assert [v.split(":", 1)[1] for v in versions(desk)] == ["import", f"telegram:{USER}", f"telegram:{USER}"]
    playbook = load_playbook(desk.files.playbook)
    assert playbook.value("volatile", "leverage") == pytest.approx(3.75)
    assert playbook.value("ranging", "stop_loss") == pytest.approx(0.02)


def test_reject_changes_nothing_and_later_presses_say_so(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending
    before = desk.files.playbook.read_text()

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            apply_all = next(data for label, data in summary.buttons() if "Apply All" in label)
            assert "rejected 3 items" in (await press(api, summary, "Reject"))["text"]
            assert api.message(CHAT, summary.message_id).reply_markup is None
            late = await press_data(api, summary, apply_all)  # a button of the old keyboard, pressed late
            assert late["text"].startswith(f"Session {session_id} is rejected: nothing changed")

    run(scenario)
    assert desk.files.playbook.read_text() == before
    assert statuses(desk, session_id)["session"] == "rejected"
    assert versions(desk) == ["1:import"]


def test_a_double_press_applies_once(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            data = next(d for text, d in summary.buttons() if "Apply All" in text)
            api.press(summary, data, user_id=USER)
            api.press(summary, data, user_id=USER)
            await api.wait_for(lambda: len(api.answers) == 2)
            await settle(api)
            first, second = (a["text"] for a in api.answers)
            assert "applied 3 changes as version 2" in first
            assert "nothing changed" in second and "3 already decided" in second

    run(scenario)
    assert versions(desk) == ["1:import", f"2:telegram:{USER}"]
    assert statuses(desk, session_id)["session"] == "applied"


def test_an_expired_session_refuses_every_decision(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)
    session_id = store_session(desk, MIXED, age=timedelta(hours=30))
    before = desk.files.playbook.read_text()

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            api.send_text(f"/tune show {session_id}", user_id=USER)
            await api.wait_for(lambda: bool(api.sent(CHAT)))
            summary = api.sent(CHAT)[0]
            assert summary.reply_markup is None and "Session expired" in (summary.text or "")
            old = FakeMessage(CHAT, summary.message_id, summary.text, None, None, None, 0)
            for action in ("apply", "safe", "reject"):
                answer = await press_data(api, old, f"tune:{action}:{session_id}")
                assert "is expired: nothing changed" in answer["text"] and "expired at" in answer["text"]
            answer = await press_data(api, old, f"tune:approve:{session_id}:r1")
            assert "expired" in answer["text"]

    run(scenario)
    assert desk.files.playbook.read_text() == before
    assert set(statuses(desk, session_id).values()) == {"expired"}


def test_a_restart_between_the_summary_and_apply_keeps_the_session(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
        restarted = make_desk(desk.files.playbook.parent)  # as a new process would, from the files
        async with bot(api, restarted):
            answer = await press(api, summary, "Apply All")
            assert "applied 3 changes as version 2" in answer["text"]

    run(scenario)
    assert statuses(desk, session_id)["session"] == "applied"


# --- security -------------------------------------------------------------------------------------------


def test_strangers_are_refused_and_change_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make_desk(tmp_path, telegram={"allowed_chat_ids": [CHAT, GROUP]})
    session_id = store_session(desk, MIXED)
    before = desk.files.playbook.read_text()

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            api.send_text("/tune", user_id=STRANGER)  # in their own chat
            api.send_text("/tune", user_id=STRANGER, chat_id=GROUP)  # in an allowed group
            api.send_text("/tune apply", user_id=USER, chat_id=-999)  # an allowed user in a chat that is not
            await settle(api)
            assert len(api.calls_of("sendMessage")) == 1, "nobody but USER in an allowed chat gets an answer"
            for data in (d for _, d in summary.buttons()):
                answer = await press_data(api, summary, data, user=STRANGER)
                assert answer["text"].startswith("You are not allowed") and answer.get("show_alert")

    with caplog.at_level(logging.WARNING, logger="framework.bot"):
        run(scenario)
    assert desk.files.playbook.read_text() == before
    assert set(statuses(desk, session_id).values()) == {"pending"}
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 7 and any(f"user {STRANGER} in chat {GROUP}" in m for m in refusals)


def test_an_empty_allow_list_refuses_everyone_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = make_desk(tmp_path, telegram={"allowed_user_ids": [], "allowed_chat_ids": []})

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            api.send_text("/help", user_id=USER)
            await settle(api)
            assert not api.calls_of("sendMessage")

    with caplog.at_level(logging.WARNING, logger="framework.bot"):
        run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any("every update will be refused" in m for m in messages)
    assert any("no chat is allowed" in m for m in messages), "no scheduled push without an allowed chat"


@pytest.mark.parametrize(
    "data",
    [
        "tune:nuke:20261124-050810-340a",
        "tune:apply:../../etc/passwd",
        "tune:apply:a:b:c",
        "approve everything",
        "tune:approve:" + "x" * 60,
        "tune:apply:20991231-000000-ffff",  # well formed, no such session
        "tune:approve:{session}:r9",  # a session's item that does not exist
    ],
)
def test_forged_button_data_is_answered_and_changes_nothing(pending: tuple[TuningDesk, str], data: str) -> None:
    desk, session_id = pending
    before = desk.files.playbook.read_text()

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            answer = await press_data(api, summary, data.format(session=session_id))
            assert answer.get("show_alert") and "nothing changed" in answer["text"].lower()
            assert api.message(CHAT, summary.message_id).edits == 0

    run(scenario)
    assert desk.files.playbook.read_text() == before
    assert set(statuses(desk, session_id).values()) == {"pending"}


def test_refusals_name_the_session_and_never_the_path_of_the_store(
    pending: tuple[TuningDesk, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, session_id = pending
    unknown = "20991231-000000-ffff"
    folder = str(desk.files.store_path.parent.resolve())
    before = desk.files.playbook.read_text()
    monkeypatch.setattr(framework.store, "BUSY_TIMEOUT_MS", 200)  # how long a decision waits for a locked store

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            summary = await summary_of(api)
            for data in (f"tune:review:{unknown}", f"tune:apply:{unknown}", f"tune:decline:{unknown}:r1"):
                answer = await press_data(api, summary, data)
                assert answer["text"].startswith(f"Nothing changed on session {unknown}"), answer
                assert f"no session {unknown} in playbook-tuner.sqlite" in answer["text"]
            shown = await reply_to(api, f"/tune show {unknown}")
            assert shown == f"Nothing to show: no session {unknown} in playbook-tuner.sqlite"
            assert "no playbook version 9 in playbook-tuner.sqlite" in await reply_to(api, "/tune rollback 9")
            locker = sqlite3.connect(desk.files.store_path, isolation_level=None)
            try:
                locker.execute("BEGIN IMMEDIATE")  # another process is writing: the store refuses the decision
                answer = await press(api, summary, "Apply All")
            finally:
                locker.close()
            assert answer["text"].startswith(f"Nothing changed on session {session_id}: ") and answer.get("show_alert")
            assert "playbook-tuner.sqlite" in answer["text"], answer
            sent = [f"{call.method} {call.params}" for call in api.calls]
            assert not [text for text in sent if folder in text], "no text the bot sent names the store's folder"

    run(scenario)
    assert desk.files.playbook.read_text() == before
    assert set(statuses(desk, session_id).values()) == {"pending"}


# --- commands ---------------------------------------------------------------------------------------------


def test_commands_registered_and_tune_subcommands(pending: tuple[TuningDesk, str]) -> None:
    desk, session_id = pending

    async def reply(api: FakeBotApi, command: str) -> str:
        before = len(api.sent(CHAT))
        api.send_text(command, user_id=USER)
        await api.wait_for(lambda: len(api.sent(CHAT)) > before)
        return api.sent(CHAT)[-1].text or ""

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            await settle(api)
            assert [c["command"] for c in api.my_commands] == ["tune", "help"]
            assert "/tune rollback [version]" in await reply(api, "/help")
            status = await reply(api, "/tune status")
            assert f"{session_id}: open until" in status and "Next scheduled tune" in status
            assert "[telegram]" in await reply(api, "/tune config")
            assert "applied 3 changes as version 2" in await reply(api, "/tune apply")
            assert "no session is awaiting a decision" in await reply(api, "/tune apply")
            history = await reply(api, "/tune history")
            assert "v2 · " in history and f"telegram:{USER}" in history
            assert "Usage: /tune rollback" in await reply(api, "/tune rollback two")
            assert "Rolled back to version 1: the live playbook is now version 3" in await reply(api, "/tune rollback")
            assert "Unknown: /tune frobnicate" in await reply(api, "/tune frobnicate")

    before = desk.files.playbook.read_text()
    run(scenario)
    assert desk.files.playbook.read_text() == before, "the rollback restored the file byte for byte"


def test_decisions_say_whether_freqtrade_was_told(
    pending: tuple[TuningDesk, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, session_id = pending
    monkeypatch.delenv(FREQTRADE_PASSWORD_ENV_VAR, raising=False)
    with FakeFreqtradeApi().running() as freqtrade:
        api = {"api_url": freqtrade.url, "api_username": USERNAME, "api_password": "not-the-password"}
        settings = desk.settings.model_copy(update={"freqtrade": FreqtradeImportSettings.model_validate(api)})
        desk = TuningDesk(desk.files, settings, lookback_days=desk.lookback_days)
        refused = f"freqtrade not told: {freqtrade.url} refused the username and password"

        async def scenario(api: FakeBotApi) -> None:
            async with bot(api, desk):
                summary = await summary_of(api)
                answer = await press(api, summary, "Safe Only")
                assert answer["text"].startswith(f"applied 1 change as version 2; 2 left pending for review; {refused}")
                assert refused in (api.message(CHAT, summary.message_id).text or ""), "the decision note says it"
                assert "not-the-password" not in await reply_to(api, "/tune config")
                assert f"now version 3.\n{refused}" in await reply_to(api, "/tune rollback")

        run(scenario)
    assert len(freqtrade.reloads()) == 2
    assert statuses(desk, session_id)["r1"] == "applied", "the apply stands"


# --- the command ------------------------------------------------------------------------------------------


def test_the_bot_command_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    sample = cached_sample()
    shutil.copy(sample.playbook, tmp_path / "playbook.yaml")
    config = tmp_path / "bot.toml"
    config.write_text(f"[telegram]\nallowed_user_ids = [{USER}]\nallowed_chat_ids = [{CHAT}]\n")
    api = FakeBotApi()
    api.start_in_thread()
    command = [
        str(Path(sys.executable).with_name("playbook-tuner")),
        "bot",
        *("--trades", str(sample.trades), "--prices", str(sample.prices)),
        *("--playbook", str(tmp_path / "playbook.yaml"), "--config", str(config)),
        *("--base-url", api.base_url),
    ]
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        api.wait_for_sync(lambda: bool(api.my_commands), timeout=120)
        api.send_text("/help", user_id=USER)
        api.wait_for_sync(lambda: bool(api.sent(CHAT)))
        assert "/tune status" in (api.sent(CHAT)[0].text or "")
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        api.stop_thread()
    assert process.returncode == 0, log
    assert "bot stopped" in log and "then every 7 days, pushed to chat 1001" in log
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    assert api.all_updates_confirmed()


def test_one_tune_at_a_time_and_stopping_finishes_it_first(tmp_path: Path) -> None:
    desk = make_desk(tmp_path)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            api.send_text("/tune", user_id=USER)
            await api.wait_for(lambda: bool(api.sent(CHAT)))
            api.send_text("/tune", user_id=USER)
            await api.wait_for(lambda: len(api.sent(CHAT)) == 2)
            assert "already in progress" in (api.sent(CHAT)[1].text or "")
        # the Application has stopped: the run it had started was awaited, stored and reported
        assert "validated change" in (api.sent(CHAT)[0].text or "")

    run(scenario)
    with Store(desk.files.store_path) as store:
        assert len(store.sessions()) == 1


def test_the_bot_command_needs_a_token_and_says_when_telegram_refuses_it(tmp_path: Path) -> None:
    executable = str(Path(sys.executable).with_name("playbook-tuner"))
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}
    missing = subprocess.run([executable, "bot"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "set TELEGRAM_BOT_TOKEN to the token BotFather gave you" in missing.stderr

    api = FakeBotApi(token=TOKEN)
    api.start_in_thread()
    wrong = "999:not-the-token-the-server-knows"
    try:
        refused = subprocess.run(
            [executable, "bot", "--base-url", api.base_url],
            env={**env, "TELEGRAM_BOT_TOKEN": wrong, "NO_PROXY": "127.0.0.1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        api.stop_thread()
    assert refused.returncode == 2 and "Telegram refused the token in TELEGRAM_BOT_TOKEN" in refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    assert wrong not in refused.stderr + refused.stdout

    unreachable = subprocess.run(
        [executable, "bot", "--base-url", "http://127.0.0.1:9"],
        env={**env, "TELEGRAM_BOT_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unreachable.returncode == 2, unreachable.stderr
    assert "cannot reach the Bot API server http://127.0.0.1:9" in unreachable.stderr
    assert TOKEN not in unreachable.stderr + unreachable.stdout


def test_an_unreachable_server_is_one_clean_message_without_a_traceback() -> None:
    with socket.socket() as probe:  # a free port: nobody listens on it once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1"}
    command = [
        str(Path(sys.executable).with_name("playbook-tuner")),
        "bot",
        "--base-url",
        f"http://127.0.0.1:{port}/bot",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and len(lines) <= 3, result.stderr
    assert lines[-1] == (
        f"error: cannot reach the Bot API server http://127.0.0.1:{port}/bot: httpx.ConnectError: All connection "
        "attempts failed"
    )
    assert sum("ERROR" in line for line in lines) <= 1, "at most one log line says that the connection failed"
