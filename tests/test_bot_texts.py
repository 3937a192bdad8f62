"""The bot's pure parts: callback data, keyboards, texts (the desk's schedule is tested in test_desk.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from telegram.error import BadRequest, NetworkError, TelegramError

from framework.bot.app import ApprovalBot, shorten_connection_errors
from framework.bot.buttons import MAX_CALLBACK_BYTES, ForgedButton, Press, item_keyboard, parse_press, session_keyboard
from framework.bot.messages import MAX_TEXT, refusal_answer, review_text, summary_text, without_paths
from framework.config import Settings
from framework.desk import SessionView, TuningDesk
from framework.errors import StoreError
from framework.pipeline import TuneFiles
from framework.store import RecommendationRecord, SessionRecord, Store

SESSION = "20261124-050810-340a"


def test_every_button_round_trips_within_telegrams_64_bytes() -> None:
    keyboards = [session_keyboard("s" * 32), item_keyboard("s" * 32, "r" * 16), session_keyboard(SESSION)]
    for keyboard in keyboards:
        for row in keyboard.inline_keyboard:
            for button in row:
                data = str(button.callback_data)
                assert len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES
                assert parse_press(data).data == data
    assert parse_press(f"tune:approve:{SESSION}:r3") == Press("approve", SESSION, "r3")
    assert [b.text for row in session_keyboard(SESSION).inline_keyboard for b in row] == [
        "✅ Apply All",
        "🟢 Safe Only",
        "🔍 Review",
        "❌ Reject",
    ]


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "tune:apply",
        f"tune:approve:{SESSION}",  # an item action needs an item
        f"tune:apply:{SESSION}:r1",  # a session action takes none
        f"tune:APPLY:{SESSION}",
        f"tune:apply:{SESSION}\n",
        "tune:apply:" + "s" * 33,
        f"tune:approve:{SESSION}:" + "r" * 17,
        "tune:apply:sessión",
        f"other:apply:{SESSION}",
    ],
)
def test_anything_else_is_a_forged_button(data: str | None) -> None:
    with pytest.raises(ForgedButton):
        parse_press(data)


def test_a_press_that_cannot_be_a_button_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="cannot be a button"):
        _ = Press("apply", "s" * 33).data
    with pytest.raises(ValueError, match="cannot be a button"):
        _ = Press("launch", SESSION).data


def _view(count: int, rationale: str = "why") -> SessionView:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    session = SessionRecord(
        SESSION,
        now,
        now + timedelta(hours=24),
        "pending",
        1,
        {"trades_analyzed": 1234, "data_quality": {"score": 88.4}, "rejected": [{}, {}]},
    )
    items = tuple(
        RecommendationRecord(
            f"r{n}",
            SESSION,
            "ranging" if n % 2 else "volatile",
            "leverage",
            2.0,
            2.5,
            "high",
            0.97,
            "applied" if n == 1 else "pending",
            {"tuner": "leverage", "rationale": rationale, "model": None, "validation": {"p_value": 0.0004}},
        )
        for n in range(1, count + 1)
    )
    return SessionView(session, items)


def test_summary_groups_changes_by_regime_with_status_and_rejected_count() -> None:
    text = summary_text(_view(3), "Last decision by @me: applied 1 change as version 2")
    assert text.splitlines()[:2] == [
        f"🧪 Tuning session {SESSION}: 3 validated changes",
        "1,234 trades analysed, data quality 88 %",
    ]
    assert (
        "ranging\n🔴 r1 leverage: 2 → 2.5 (confidence 97%) ✅ applied\n🔴 r3 leverage: 2 → 2.5 (confidence 97%)" in text
    )
    assert "volatile\n🔴 r2 leverage: 2 → 2.5" in text
    assert "2 proposals rejected by validation or by the tuners" in text
    assert "Open until 2026-11-25 12:00 UTC" in text and text.endswith("applied 1 change as version 2")


def test_texts_never_exceed_telegrams_limit() -> None:
    view = _view(300, rationale="x" * 5000)
    assert len(summary_text(view)) <= MAX_TEXT
    review = review_text(view, view.recommendations[0])
    assert len(review) < 1000, "a long rationale is clipped so that the evidence after it still shows"
    assert "x …\n" in review and "p-value < 0.001, DSR" in review and "model: none (a search over replays)" in review


def test_texts_for_a_chat_name_the_bots_files_instead_of_their_paths(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    files = TuneFiles(link / "trades.csv", link / "prices", link / "playbook.yaml")
    names = TuningDesk(files, Settings()).file_names()
    with Store(files.store_path) as store, pytest.raises(StoreError) as unknown:
        store.session("20991231-000000-ffff")
    assert str(real) in str(unknown.value), "the store names its file by the resolved path"
    texts = [
        without_paths(str(unknown.value), names),
        without_paths(f"{files.prices / 'BTC_USDT-5m.feather'}, row 3, field 'close': not a number", names),
        without_paths(f"{files.trades}, row 2, field 'side': 'buy' is not long or short", names),
    ]
    assert texts == [
        "no session 20991231-000000-ffff in playbook-tuner.sqlite",
        "prices/BTC_USDT-5m.feather, row 3, field 'close': not a number",
        "trades.csv, row 2, field 'side': 'buy' is not long or short",
    ]
    assert refusal_answer(texts[0], "20991231-000000-ffff", "r2") == (
        "Nothing changed on session 20991231-000000-ffff, item r2: no session 20991231-000000-ffff in "
        "playbook-tuner.sqlite"
    )


def test_connection_failures_are_logged_as_one_line_other_errors_with_their_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.StreamHandler(stream)])
    shorten_connection_errors()
    for error in (
        NetworkError("httpx.ConnectError: All connection attempts failed"),
        BadRequest("Message is too long"),
    ):
        try:
            raise error
        except TelegramError:
            logging.getLogger("telegram.ext").exception("Network Retry Loop (Polling Updates): Aborting.")
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        "Network Retry Loop (Polling Updates): Aborting. (NetworkError: httpx.ConnectError: All connection attempts "
        "failed)"
    )
    assert lines[1:3] == ["Network Retry Loop (Polling Updates): Aborting.", "Traceback (most recent call last):"]
    assert lines[-1] == "telegram.error.BadRequest: Message is too long", "a refused request keeps its traceback"


def test_a_lost_connection_while_polling_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = TuneFiles(tmp_path / "t.csv", tmp_path, tmp_path / "playbook.yaml")
    bot = ApprovalBot(TuningDesk(files, Settings()))
    context: Any = SimpleNamespace(error=NetworkError("httpx.ReadError: connection reset"))
    with caplog.at_level(logging.WARNING, logger="framework.bot"):
        asyncio.run(bot.on_error(None, context))
        context.error = ValueError("a bug in a handler")
        asyncio.run(bot.on_error(None, context))
    lost, bug = caplog.records
    assert lost.levelno == logging.WARNING and lost.exc_info is None
    assert lost.getMessage() == "cannot reach the Bot API server: httpx.ReadError: connection reset"
    assert bug.levelno == logging.ERROR and bug.exc_info is not None


def test_the_configuration_shown_in_a_chat_masks_a_storage_password() -> None:
    from framework.bot.messages import config_text
    from framework.config import Settings

    text = config_text(Settings(search_storage="postgresql://trader:s3cret@db.local/optuna"))
    assert "s3cret" not in text
    assert "postgresql://trader:***@db.local/optuna" in text


def test_a_review_shows_the_gates_evidence() -> None:
    evidence = {
        "test": "mean return of the trades traded more against those traded less",
        "trades_compared": 812,
        "effect": 0.0181,
        "interval": [0.0117, 0.0264],
        "p_value": 0.0009,
        "p_value_raw": 0.0001,
        "slots_tested": 9,
        "out_of_sample_days": 18,
        "judged_value": 0.62,
        "capped_effect": 0.0042,
        "holdout_effect": 0.011,
        "holdout_interval": [-0.002, 0.024],
        "fold_values": [0.39, None],
        "dsr_trials": 18,
        "dsr_trial_variance": 0.0123,
    }
    view = _view(1)
    rec = dataclasses.replace(view.recommendations[0], payload={"validation": {"evidence": evidence}})
    review = review_text(view, rec)
    assert "test: mean return of the trades traded more against those traded less" in review
    assert "effect +0.0181 per trade, 90 % interval [+0.0117, +0.0264], 812 trades over 18 days" in review
    assert "after Holm's correction over 9 proposals" in review
    assert "direction judged on 0.62 (before the change cap); the capped step's own effect +0.0042" in review
    assert "values the walk-forward folds chose: 0.39, -" in review
    assert "DSR over N = 18 out-of-sample series, V = 0.0123" in review
