"""The inline buttons of the approval messages: their callback data and keyboards.

Callback data is ``tune:<action>:<session>`` for a session's buttons, ``tune:<action>:<session>:<item>``
for a recommendation's and ``tune:rollback:<version>`` for the Roll back button under an audit's alert
(at most 64 bytes, Telegram's limit). The proposal and the audit stay in the store; a button only names
them, and the desk decides whether the press may act. Anything else is refused by :func:`parse_press`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

PREFIX = "tune"
MAX_CALLBACK_BYTES = 64
SESSION_ACTIONS = {"apply": "✅ Apply All", "safe": "🟢 Safe Only", "review": "🔍 Review", "reject": "❌ Reject"}
"""Buttons under a session's summary, by action."""
ITEM_ACTIONS = {"approve": "✅ Approve", "decline": "❌ Reject"}
"""Buttons under one recommendation in review, by action."""
ROLLBACK_ACTION = "rollback"
ROLLBACK_LABEL = "↩️ Roll back"
"""The button under an audit's alert of a flagged version."""

# The longest item press, tune:approve:<32>:<16>, is 62 bytes.
_SESSION_ID = r"[0-9A-Za-z_-]{1,32}"
_ITEM_ID = r"[0-9A-Za-z_-]{1,16}"
_SESSION_PRESS = re.compile(rf"{PREFIX}:({'|'.join(SESSION_ACTIONS)}):({_SESSION_ID})")
_ITEM_PRESS = re.compile(rf"{PREFIX}:({'|'.join(ITEM_ACTIONS)}):({_SESSION_ID}):({_ITEM_ID})")
_VERSION = r"[1-9][0-9]{0,8}"  # a playbook version: digits, no leading zero, at most 9
_ROLLBACK_PRESS = re.compile(rf"{PREFIX}:{ROLLBACK_ACTION}:({_VERSION})")


class ForgedButton(ValueError):
    """Callback data that no button of this bot carries."""


@dataclass(frozen=True)
class Press:
    """A press of one of our buttons: an action on a session, or on one of its recommendations."""

    action: str
    session_id: str
    item_id: str | None = None

    @property
    def data(self) -> str:
        """The callback data; ``ValueError`` if it would not fit Telegram's 64 bytes."""
        parts = [PREFIX, self.action, self.session_id] + ([self.item_id] if self.item_id else [])
        data = ":".join(parts)
        try:
            same = parse_press(data) == self
        except ForgedButton:
            same = False
        if not same:
            raise ValueError(f"{self} cannot be a button: unknown action or an id out of range")
        return data


@dataclass(frozen=True)
class RollbackPress:
    """A press of Roll back under the alert of flagged playbook ``version``: a request to return to the
    version it replaced, which the desk grants only while ``version`` is live and the latest audit flags it."""

    version: int

    action = ROLLBACK_ACTION

    @property
    def data(self) -> str:
        """The callback data; ``ValueError`` for a version no button can carry (below 1, over 9 digits)."""
        data = f"{PREFIX}:{ROLLBACK_ACTION}:{self.version}"
        try:
            parse_press(data)
        except ForgedButton:
            raise ValueError(f"{self} cannot be a button: a version is 1 to 9 digits") from None
        return data


def parse_press(data: str | None) -> Press | RollbackPress:
    """The press ``data`` stands for; :class:`ForgedButton` for anything our keyboards never send."""
    if data is None or len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ForgedButton("not a button of this bot")
    if match := _SESSION_PRESS.fullmatch(data):
        return Press(match[1], match[2])
    if match := _ITEM_PRESS.fullmatch(data):
        return Press(match[1], match[2], match[3])
    if match := _ROLLBACK_PRESS.fullmatch(data):
        return RollbackPress(int(match[1]))
    raise ForgedButton("not a button of this bot")


def session_keyboard(session_id: str) -> InlineKeyboardMarkup:
    """Apply All / Safe Only on one row, Review / Reject on the next."""
    buttons = [
        InlineKeyboardButton(label, callback_data=Press(action, session_id).data)
        for action, label in SESSION_ACTIONS.items()
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def item_keyboard(session_id: str, item_id: str) -> InlineKeyboardMarkup:
    """Approve / Reject for one recommendation."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label, callback_data=Press(action, session_id, item_id).data)
                for action, label in ITEM_ACTIONS.items()
            ]
        ]
    )


def rollback_keyboard(version: int) -> InlineKeyboardMarkup:
    """Roll back, under the alert of flagged ``version``."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(ROLLBACK_LABEL, callback_data=RollbackPress(version).data)]])
