"""The audit's channels, their pure parts: the Roll back button's data, the audit's and the alert's texts."""

from __future__ import annotations

import pytest

from framework.bot.buttons import (
    MAX_CALLBACK_BYTES,
    ForgedButton,
    Press,
    RollbackPress,
    parse_press,
    rollback_keyboard,
)
from framework.bot.messages import MAX_ANSWER, MAX_TEXT, alert_text, audit_text, rollback_answer, rollback_note
from framework.desk import Rollback
from tests.audit_texts_cases import realised, report, version


def test_the_roll_back_button_names_a_version_and_round_trips() -> None:
    (row,) = rollback_keyboard(7).inline_keyboard
    (button,) = row
    assert button.text == "↩️ Roll back" and button.callback_data == "tune:rollback:7"
    assert parse_press("tune:rollback:7") == RollbackPress(7)
    longest = RollbackPress(999_999_999).data
    assert longest == "tune:rollback:999999999" and len(longest.encode()) <= MAX_CALLBACK_BYTES
    assert parse_press(longest) == RollbackPress(999_999_999)


@pytest.mark.parametrize(
    "data",
    [
        "tune:rollback",
        "tune:rollback:",
        "tune:rollback:0",
        "tune:rollback:07",  # no leading zero: one version, one data
        "tune:rollback:-7",
        "tune:rollback:+7",
        "tune:rollback:7.0",
        "tune:rollback:1e3",
        "tune:rollback:1234567890",  # ten digits
        "tune:rollback:٧",  # an Arabic-Indic seven is a digit to str.isdigit, not to a button
        "tune:rollback:7:r1",
        "tune:rollback:7\n",
        "tune:rollback: 7",
        "tune:ROLLBACK:7",
        "tune:rollbacks:7",
        "tune:undo:7",
        "tune:rollback:20261124-050810-340a",
    ],
)
def test_other_rollback_data_is_a_forged_button(data: str) -> None:
    with pytest.raises(ForgedButton):
        parse_press(data)


@pytest.mark.parametrize("number", [0, -1, 1_000_000_000])
def test_a_version_no_button_can_carry_is_refused_when_built(number: int) -> None:
    with pytest.raises(ValueError, match="cannot be a button"):
        _ = RollbackPress(number).data


def test_a_session_press_cannot_pose_as_a_rollback() -> None:
    with pytest.raises(ValueError, match="cannot be a button"):
        _ = Press("rollback", "7").data


def test_audit_text_shows_each_version_the_accuracy_and_the_stability() -> None:
    text = audit_text(report())
    assert text.startswith("🔎 Audit of 3 applied versions, 2026-04-10 08:00 UTC; live: version 7")
    assert "v7 (live), replaced v6 · live since 2026-03-07 12:00 UTC · 212 trades" in text
    assert "v5, replaced v4 · live since 2026-03-05 12:00 UTC until 2026-03-06 12:00 UTC · 180 trades" in text
    assert (
        "realised: log growth per trade -0.0021 (90 % -0.0035 .. -0.0007), paired log-growth test over 28 days" in text
    )
    assert "predicted: log growth per trade +0.0010 (90 % +0.0001 .. +0.0019) (session 20260307-120000-bb02)" in text
    assert "predicted: – (not from a tuning session: session 20260306 applied)" in text
    assert "⚠️ worse: the note of version 7" in text and "✅ better: the note of version 5" in text
    assert "⏳ too young: the note of version 6" in text
    assert "changes: ranging.stop_loss 0.02 → 0.03" in text
    assert "1 of 2 judged changes did better (50 %), 1 too young, next judgeable at 2026-05-01 00:00 UTC" in text
    moved = text.index("ranging.stop_loss: 0.02 → 0.03 → 0.025 over 3 sessions, mean move 33 %, 1 reversal")
    assert moved < text.index("trending_up.leverage: 3 → 3.1 over 2 sessions, mean move 3 %, 0 reversals")


def test_audit_text_of_nothing_applied_and_of_nothing_judged() -> None:
    empty = report(
        versions=[],
        stability=[],
        live_version=1,
        accuracy={
            "judged": 0,
            "better": 0,
            "worse": 0,
            "no_better": 0,
            "young": 0,
            "unaudited": 0,
            "share_better": None,
        },
    )
    text = audit_text(empty)
    assert "No applied version to audit yet" in text
    assert "0 of 0 judged changes did better (–), 0 too young" in text
    assert "no parameter recommended in two sessions yet" in text
    young = report(versions=[version(2, "young", realised=realised(0.0, -0.001, 0.001, trades=5))])
    assert "none judgeable at the effects measured so far" in audit_text(young)


def test_audit_text_fits_telegram_showing_the_newest_versions() -> None:
    many = [version(n, "better", note="x" * 600, realised=realised(0.001, 0.0, 0.002)) for n in range(2, 42)]
    text = audit_text(report(versions=many, live_version=41))
    assert len(text) <= MAX_TEXT
    shown = int(text.split("The newest ")[1].split(";")[0])
    assert 1 <= shown < 8 and f"The newest {shown}; all 40: playbook-tuner audit" in text
    assert "v41 (live)" in text and f"v{41 - shown}," not in text and text.count(" · live since ") == shown
    assert text.endswith("0 reversals"), "the accuracy and the stability are never cut off"


def test_alert_says_what_the_flagged_version_did_and_that_nothing_was_rolled_back() -> None:
    flagged = report().of(7)
    assert flagged is not None
    assert alert_text(flagged) == (
        "⚠️ Version 7 (live since 2026-03-07 12:00 UTC) underperforms version 6, which it replaced: log growth "
        "per trade -0.0021 (90 % -0.0035 .. -0.0007) over 212 trades; the session predicted +0.0010. Nothing was "
        "rolled back; press Roll back to return to version 6."
    )
    done = rollback_note(Rollback(target=6, new=8), "@ann")
    after = alert_text(flagged, done)
    assert "Nothing was rolled back" not in after
    assert after.endswith("\n\n↩️ Rolled back by @ann: the live playbook is now version 8, the text of version 6.")
    assert rollback_answer(Rollback(6, 8)) == "Rolled back to version 6: the live playbook is now version 8."
    assert len(rollback_answer(Rollback(6, 8))) <= MAX_ANSWER


def test_alert_names_a_prediction_made_on_another_test_or_none() -> None:
    other = version(
        3,
        "worse",
        realised=realised(-0.01, -0.02, -0.004, kind="return"),
        prediction={"session_id": "s", "items": ["r1"], "kind": "quality", "effect": 0.002},
    )
    flagged = report(versions=[other], live_version=3).of(3)
    assert flagged is not None
    text = alert_text(flagged)
    assert "return on margin per trade -0.0100 (90 % -0.0200 .. -0.0040) over 212 trades" in text
    assert "the session predicted +0.0020 on its own test (quality of the trades traded more vs less)" in text
    unpredicted = report(versions=[version(3, "worse", realised=realised(-0.01, -0.02, -0.004))]).of(3)
    assert unpredicted is not None and "; no tuning session predicted it." in alert_text(unpredicted)


def test_the_terminal_shows_every_version_the_accuracy_and_the_stability_table() -> None:
    from framework.cli.common import console
    from framework.cli.render import flagged_lines, print_audit

    whole = report()
    with console.capture() as captured:
        print_audit(whole)
    text = captured.get()
    assert "│ 7 (live) │ 6" in text and "-0.0021 (-0.0035 .. -0.0007)" in text and "⚠️ worse" in text
    assert "│ 5        │ 4" in text and "+0.0012" in text and "⏳ too young" in text
    assert "accuracy: 1 of 2 judged changes did better (50 %), 1 too young, next judgeable at 2026-05-01" in text
    assert "0.02 → 0.03 → 0.025" in text and "33 %" in text
    assert text.index("stop_loss") < text.index("leverage"), "the parameter that moved most comes first"
    flagged = whole.flagged()
    assert flagged_lines(flagged, 7) == [
        "version 7 underperforms version 6, which it replaced: log growth per trade -0.0021 (90 % -0.0035 .. "
        "-0.0007) over 212 trades; roll back with `playbook-tuner rollback 6`"
    ]
    assert flagged_lines(flagged, 8)[0].endswith("over 212 trades; no longer live")
