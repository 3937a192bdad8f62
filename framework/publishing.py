"""The live-file side of a decision: a session's changes as an edit of the live playbook, published as
one new version, and rollback to an earlier version's text.

:class:`LiveFile` is the live playbook of one store as decisions see it. Every step registers a hand
edit of the file first, so it stays in the history (and makes a session computed before it stale). An
edit keeps the live text's comments and order (:meth:`~framework.playbook.Playbook.with_changes`); a
publish or rollback names the version it checked (``expected_parent``), so a version published
meanwhile by another process makes it refuse instead of overwriting. The decision rules (claims,
expiry, audit) are :mod:`framework.approval`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from framework.decisions import DecisionError, NothingToRollBack, checked_actor
from framework.errors import InputError, StoreError
from framework.playbook import (
    PARAMETERS,
    STRATEGY_WEIGHTS,
    ParameterChange,
    ParameterValue,
    Playbook,
    parse_duration,
    parse_playbook,
)
from framework.store import ParentMoved, PlaybookVersion, RecommendationRecord, Store


@dataclass(frozen=True)
class Stale:
    """Why a session's changes no longer apply to the live playbook."""

    why: str


class LiveFile:
    """The live playbook file at ``path`` whose versions ``store`` keeps."""

    def __init__(self, store: Store, path: Path):
        self.store = store
        self.path = Path(path)

    def check(self, expected: int) -> tuple[PlaybookVersion, str | None]:
        """The live version (a hand edit of the file registered first) and why it is not ``expected``,
        or None when it is."""
        before = self.store.latest_playbook_version()
        live = self.store.register_live_playbook(self.path)
        if live.version == expected:
            return live, None
        if before is not None and live.version != before.version:
            why = f"the live file was edited by hand (registered as version {live.version})"
        else:
            why = f"version {live.version} is live"
        return live, f"computed on version {expected}, but {why}"

    def edit(self, live: PlaybookVersion, todo: Sequence[RecommendationRecord], session_id: str) -> str | Stale:
        """The text of ``live`` with the changes of ``todo``; :class:`Stale` when an item's ``current`` is
        not the live value, a DecisionError when the playbook refuses the changes (its bounds)."""
        changes = playbook_changes(todo)
        playbook = self._parsed(live)
        mismatch = first_mismatch(playbook, todo)
        if mismatch is not None:
            return Stale(mismatch)
        try:
            return playbook.with_changes(changes).text
        except InputError as exc:
            raise DecisionError(
                f"session {session_id}: the playbook refuses these changes, nothing was changed: {exc}"
            ) from exc

    def publish(self, text: str, *, author: str, reason: str, expected_parent: int) -> PlaybookVersion:
        """Write ``text`` as the new live version (atomically); ``ParentMoved`` when the live version is
        no longer ``expected_parent``."""
        return self.store.publish_playbook(
            self.path, text, author=author, reason=reason, expected_parent=expected_parent
        )

    def undo_target(self) -> int:
        """The version a rollback without a version returns to: the one before the newest change still
        in effect, so rolling back again goes further back and never redoes a change just undone.

        A version whose text repeats an earlier one's (a rollback, a hand edit back) stands for the
        earliest version with that text; the target is that version's parent. A hand edit of the live
        file is registered first. ``NothingToRollBack`` when the live text is the first version's.
        """
        live = self.store.register_live_playbook(self.path)
        versions = [v for v in self.store.playbook_versions() if v.version <= live.version]
        effective = next(v for v in versions if v.sha256 == live.sha256)
        if effective.parent is None:
            same = "" if effective.version == live.version else f" holds the text of version {effective.version},"
            raise NothingToRollBack(
                f"nothing to roll back: the live version {live.version}{same} the first version; "
                "`playbook-tuner history` lists the versions, `rollback VERSION` returns to one of them"
            )
        return effective.parent

    def rollback(self, version: int, actor: str, reason: str, *, expected_live: int | None = None) -> int:
        """Publish the text of the earlier ``version`` again as a new version; returns its number.

        The reason is recorded with the new version and in the audit log. A hand edit of the live file
        is registered as a version first, so it stays in the history. With ``expected_live``, the
        rollback goes ahead only while that version is the live one.
        """
        actor = checked_actor(actor)
        if not reason.strip():
            raise DecisionError(f"give a reason for rolling back to version {version}")
        try:
            target = self.store.playbook_version(version)
        except StoreError as exc:
            raise DecisionError(f"cannot roll back: {exc}") from exc
        try:
            parse_playbook(target.text, f"version {version}")
        except InputError as exc:
            raise DecisionError(f"cannot roll back to version {version}: it is not a valid playbook ({exc})") from exc
        live = self.store.register_live_playbook(self.path)
        if expected_live is not None and live.version != expected_live:
            raise DecisionError(
                f"version {expected_live} is no longer live: version {live.version} is ({live.reason}); "
                "nothing rolled back"
            )
        if live.version == version:
            raise DecisionError(f"version {version} is the live version; there is nothing to roll back")
        try:
            rolled = self.store.rollback(self.path, version, author=actor, reason=reason, expected_parent=live.version)
        except ParentMoved as exc:
            raise DecisionError(
                f"cannot roll back to version {version}: version {exc.actual} was published meanwhile "
                f"(version {live.version} was live when the rollback began); nothing was changed. Check "
                "`playbook-tuner history` and roll back again if it is still needed"
            ) from exc
        return rolled.version

    def _parsed(self, live: PlaybookVersion) -> Playbook:
        try:
            return parse_playbook(live.text, str(self.path))
        except InputError as exc:
            raise DecisionError(f"the live playbook (version {live.version}) is not valid: {exc}") from exc


def playbook_changes(todo: Sequence[RecommendationRecord]) -> list[ParameterChange]:
    """The playbook changes of ``todo``; a DecisionError for a bad value or two items on one key."""
    changes: list[ParameterChange] = []
    seen: dict[str, str] = {}
    for rec in todo:
        change = ParameterChange(rec.regime, rec.parameter, _value(rec, rec.proposed, "proposed"))
        if change.dotted_key in seen:
            raise DecisionError(
                f"session {rec.session_id}: items {seen[change.dotted_key]} and {rec.id} both set "
                f"{change.dotted_key}; apply one of them with apply_items. Nothing was changed"
            )
        seen[change.dotted_key] = rec.id
        changes.append(change)
    return changes


def _value(rec: RecommendationRecord, raw: Any, which: str) -> ParameterValue:
    """A stored ``current`` or ``proposed`` value as the playbook's type (max_hold as a duration)."""
    where = f"session {rec.session_id}, item {rec.id} ({rec.regime}.{rec.parameter})"
    if rec.regime != STRATEGY_WEIGHTS and rec.parameter not in PARAMETERS:
        raise DecisionError(f"{where}: unknown parameter; parameters are: {', '.join(PARAMETERS)}")
    if rec.regime != STRATEGY_WEIGHTS and rec.parameter == "max_hold":
        if raw is not None and not isinstance(raw, str):
            raise DecisionError(f"{where}: the {which} max_hold must be a duration text such as 48h, got {raw!r}")
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise DecisionError(f"{where}: the {which} value {exc}") from exc
    if not isinstance(raw, Real) or isinstance(raw, bool) or not math.isfinite(raw):
        raise DecisionError(f"{where}: the {which} value must be a finite number, got {raw!r}")
    return float(raw)


def first_mismatch(playbook: Playbook, todo: Sequence[RecommendationRecord]) -> str | None:
    """Why the first item whose ``current`` is not the playbook's value is stale, or None."""
    for rec in todo:
        if rec.regime == STRATEGY_WEIGHTS:
            live: ParameterValue = playbook.strategy_weight(rec.parameter)
        else:
            live = playbook.value(rec.regime, rec.parameter)
        expected = _value(rec, rec.current, "current")
        if not _same(expected, live):
            key = ParameterChange(rec.regime, rec.parameter, None).dotted_key
            return f"item {rec.id} expects {key} = {rec.current}, the live playbook has {_show(live)}"
    return None


def _same(a: ParameterValue, b: ParameterValue) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _show(value: ParameterValue) -> str:
    if value is None:
        return "no limit"
    return f"{value:g}" if isinstance(value, float) else str(value)
