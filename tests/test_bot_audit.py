"""The post-apply audit through the Telegram bot: the real python-telegram-bot client against the fake
Bot API server (tests/fake_telegram.py) and a real store in which the audit flags a live version.

The store is one of backtests/audit_cases.py: version 2, a planted bad change (momentum's trades cut to a
tenth), published 30 days before the sample's end, and the bot's trades after it regenerated under it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from backtests.audit_cases import MOMENTUM_CUT, LiveCase, hand_change, with_weights
from framework.config import Settings
from framework.desk import TuningDesk
from framework.pipeline import TuneFiles
from framework.sample import EMBEDDED_SAMPLE_DAYS
from framework.store import Store
from tests.fake_telegram import FakeBotApi, FakeMessage
from tests.test_bot import CHAT, FAST, GROUP, STRANGER, USER, bot, press_data, reply_to, run, settle

ALERT = "⚠️ Version 2 (live since"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> LiveCase:
    """The case, built once: each test works on a copy of its folder (:func:`copied`)."""
    return hand_change(tmp_path_factory.mktemp("audit") / "case", lambda playbook: with_weights(playbook, MOMENTUM_CUT))


def copied(case: LiveCase, folder: Path, *, telegram: dict[str, Any] | None = None) -> TuningDesk:
    """A desk with the bot's access settings on a copy of ``case``'s logs, playbook and store in ``folder``."""
    source = case.files.playbook.parent
    shutil.copytree(source, folder, dirs_exist_ok=True)
    files = TuneFiles(
        folder / case.files.trades.name, case.files.prices, folder / case.files.playbook.name,
        folder / case.files.signals.name if case.files.signals else None,
    )  # fmt: skip
    access = {"allowed_user_ids": [USER], "allowed_chat_ids": [CHAT], "scheduled_tuning": True}
    settings = Settings.model_validate({**FAST, "telegram": {**access, **(telegram or {})}})
    return TuningDesk(files, settings, lookback_days=EMBEDDED_SAMPLE_DAYS, clock=lambda: case.end)


def versions(desk: TuningDesk) -> list[tuple[int, str]]:
    with Store(desk.store_path) as store:
        return [(v.version, v.author) for v in store.playbook_versions()]


async def audited(api: FakeBotApi, chat: int = CHAT) -> tuple[FakeMessage, FakeMessage]:
    """Send /tune audit; the audit's message (the progress board it became) and the alert under it."""
    before = len(api.sent(chat))
    api.send_text("/tune audit", user_id=USER, chat_id=chat)
    await api.wait_for(lambda: any(m.buttons() for m in api.sent(chat)[before:]), timeout=120)
    await settle(api)
    board, alert = api.sent(chat)[before:]
    return board, alert


def test_tune_audit_replies_with_the_audit_and_an_alert_with_roll_back(planted: LiveCase, tmp_path: Path) -> None:
    desk = copied(planted, tmp_path)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            board, alert = await audited(api)
            progress = [c.params["text"] for c in api.calls_of("editMessageText")]
            assert progress and progress[0].startswith("⏳"), progress
            text = board.text or ""
            assert text.startswith("🔎 Audit of 1 applied version, ") and "; live: version 2" in text
            assert "v2 (live), replaced v1 · live since " in text and "⚠️ worse: " in text
            assert "realised: log growth per trade -" in text and "judged changes did better" in text
            assert board.reply_markup is None
            assert (alert.text or "").startswith(ALERT)
            assert "underperforms version 1, which it replaced: log growth per trade -" in (alert.text or "")
            assert (alert.text or "").endswith("Nothing was rolled back; press Roll back to return to version 1.")
            assert alert.buttons() == [("↩️ Roll back", "tune:rollback:2")]

    run(scenario)
    assert versions(desk) == [(1, "bot"), (2, "cli:planted")], "an audit rolls nothing back"
    with Store(desk.store_path) as store:
        assert store.latest_audit() is not None, "the audit is stored"


def test_the_scheduled_job_audits_first_and_pushes_the_alert(planted: LiveCase, tmp_path: Path) -> None:
    desk = copied(planted, tmp_path, telegram={"allowed_chat_ids": [CHAT, GROUP], "chat_id": GROUP})

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk) as app:
            assert app.job_queue is not None
            (job,) = app.job_queue.get_jobs_by_name("scheduled-tune")
            await job.run(app)
            await settle(api)
            pushed = api.sent(GROUP)
            assert pushed and (pushed[0].text or "").startswith(ALERT), "the alert comes before the session"
            assert pushed[0].buttons() == [("↩️ Roll back", "tune:rollback:2")]
            assert not api.sent(CHAT)

    run(scenario)
    with Store(desk.store_path) as store:
        assert store.latest_audit() is not None and len(store.sessions()) == 1, "audited, then tuned"
    assert versions(desk)[-1] == (2, "cli:planted")


def test_roll_back_returns_to_the_replaced_version_once(planted: LiveCase, tmp_path: Path) -> None:
    desk = copied(planted, tmp_path)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            _, alert = await audited(api)
            answer = await press_data(api, alert, "tune:rollback:2")
            assert answer["text"] == "Rolled back to version 1: the live playbook is now version 3."
            after = api.message(CHAT, alert.message_id)
            assert after.reply_markup is None and "Nothing was rolled back" not in (after.text or "")
            assert (after.text or "").endswith(
                "↩️ Rolled back by @trader: the live playbook is now version 3, the text of version 1."
            )
            published = len(versions(desk))
            again = await press_data(api, alert, "tune:rollback:2")  # the old copy of the alert, with its button
            assert again.get("show_alert") and again["text"].startswith("Nothing changed on version 2: ")
            assert "no longer live" in again["text"] or "does not find" in again["text"], again
            assert len(versions(desk)) == published, "a second press publishes nothing"

    run(scenario)
    assert versions(desk) == [(1, "bot"), (2, "cli:planted"), (3, f"telegram:{USER}")]
    assert desk.files.playbook.read_text(encoding="utf-8") == planted.before.text
    with Store(desk.store_path) as store:
        assert store.playbook_versions()[-1].text == store.playbook_versions()[0].text
        rollbacks = [entry for entry in store.audit_log() if entry.event == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].actor == f"telegram:{USER}"


def test_a_press_after_a_rollback_from_the_command_line_changes_nothing(planted: LiveCase, tmp_path: Path) -> None:
    desk = copied(planted, tmp_path)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            _, alert = await audited(api)
            desk.rollback(1, "cli", "rolled back by hand")
            answer = await press_data(api, alert, "tune:rollback:2")
            assert answer.get("show_alert") and answer["text"].startswith("Nothing changed on version 2: ")
            assert api.message(CHAT, alert.message_id).edits == 0

    run(scenario)
    assert versions(desk) == [(1, "bot"), (2, "cli:planted"), (3, "cli")]


def test_roll_back_passes_the_gate_and_the_desk(
    planted: LiveCase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    desk = copied(planted, tmp_path)
    before = desk.files.playbook.read_text(encoding="utf-8")

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            _, alert = await audited(api)
            stranger = await press_data(api, alert, "tune:rollback:2", user=STRANGER)
            assert stranger["text"].startswith("You are not allowed") and stranger.get("show_alert")
            not_flagged = await press_data(api, alert, "tune:rollback:1")  # well formed, not what the alert says
            assert not_flagged.get("show_alert")
            assert not_flagged["text"] == (
                "Nothing changed on version 1: the latest audit does not find version 1 worse: nothing rolled back"
            )
            unknown = await press_data(api, alert, "tune:rollback:99")
            assert unknown["text"].startswith("Nothing changed on version 99: ")
            forged = await press_data(api, alert, "tune:rollback:02")
            assert forged["text"] == "This button is not one of this bot's: nothing changed."
            assert api.message(CHAT, alert.message_id).edits == 0

    with caplog.at_level(logging.WARNING, logger="framework.bot"):
        run(scenario)
    assert desk.files.playbook.read_text(encoding="utf-8") == before
    assert versions(desk) == [(1, "bot"), (2, "cli:planted")]
    assert any(f"refused a button press from user {STRANGER}" in r.getMessage() for r in caplog.records)


def test_status_names_the_flagged_version_and_help_the_audit(planted: LiveCase, tmp_path: Path) -> None:
    desk = copied(planted, tmp_path)

    async def scenario(api: FakeBotApi) -> None:
        async with bot(api, desk):
            await settle(api)
            assert "/tune audit" in await reply_to(api, "/help")
            assert "⚠️" not in await reply_to(api, "/tune status"), "no audit stored yet"
            await audited(api)
            status = await reply_to(api, "/tune status")
            assert "⚠️ version 2 underperforms version 1, which it replaced: log growth per trade -" in status
            assert "Roll back under its alert, or /tune rollback 1" in status

    run(scenario)
