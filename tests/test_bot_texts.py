"""The bot's pure parts: callback data, keyboards, texts, and the schedule of the desk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from framework.bot.buttons import MAX_CALLBACK_BYTES, ForgedButton, Press, item_keyboard, parse_press, session_keyboard
from framework.bot.desk import SessionView, TuningDesk
from framework.bot.messages import MAX_TEXT, review_text, summary_text
from framework.config import Settings
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
    assert "x …\n" in review and "p-value < 0.001 (SPA)" in review and "model: none (a search over replays)" in review


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
