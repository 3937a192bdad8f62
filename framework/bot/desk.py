"""What the Telegram bot does, without Telegram: run a tune, decide on a session, look things up.

:class:`TuningDesk` is the bot's one door to the library. Each call opens the store for itself, so
calls can run in worker threads, and every decision goes through :class:`~framework.approval.Approvals`
(idempotence, staleness, expiry, audit). The bot module only parses, authorises, renders and routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from framework.approval import Approvals, DecisionError, DecisionOutcome, utc_now
from framework.config import Settings
from framework.errors import StoreError
from framework.pipeline import TuneFiles, TuneOutcome, run_tune
from framework.store import PlaybookVersion, RecommendationRecord, SessionRecord, Store

SESSION_DECISIONS = ("apply", "safe", "reject")
ITEM_DECISIONS = ("approve", "decline")


@dataclass(frozen=True)
class SessionView:
    """A session as stored now, with its recommendations in order."""

    session: SessionRecord
    recommendations: tuple[RecommendationRecord, ...]

    def pending(self) -> tuple[RecommendationRecord, ...]:
        return tuple(rec for rec in self.recommendations if rec.status == "pending")

    def item(self, item_id: str) -> RecommendationRecord:
        for rec in self.recommendations:
            if rec.id == item_id:
                return rec
        raise DecisionError(f"session {self.session.id} has no item {item_id}")


@dataclass(frozen=True)
class DeskStatus:
    """What ``/tune status`` shows. Times are UTC."""

    pending: tuple[SessionRecord, ...]
    last_session: SessionRecord | None
    live_version: PlaybookVersion | None
    next_tune: datetime | None


class TuningDesk:
    """Tuning and decisions on the files of one bot: its trade log, candles, live playbook and store.

    ``lookback_days`` overrides ``settings.lookback_days`` for every tune (the embedded sample uses all
    of its days); ``clock`` gives the current UTC time (injectable for tests).
    """

    def __init__(
        self,
        files: TuneFiles,
        settings: Settings,
        *,
        seed: int = 0,
        lookback_days: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.files = files
        self.settings = settings
        self.seed = seed
        self.lookback_days = lookback_days
        self.clock = clock

    def tune(self, progress: Callable[[str], None] = lambda step: None) -> TuneOutcome:
        """Run the tune pipeline once and store its session (blocking: seconds to minutes)."""
        return run_tune(
            self.files,
            self.settings,
            seed=self.seed,
            lookback_days=self.lookback_days,
            progress=progress,
            clock=self.clock,
        )

    def view(self, session_id: str | None = None) -> SessionView:
        """The session now (default: the newest awaiting a decision); an overdue pending session is
        marked expired first."""
        with Store(self.files.store_path) as store:
            approvals = self._approvals(store)
            approvals.expire_overdue()
            session_id = session_id or _newest_pending(approvals)
            try:
                session = store.session(session_id)
            except StoreError as exc:
                raise DecisionError(str(exc)) from exc
            return SessionView(session, tuple(store.recommendations(session_id)))

    def decide(self, action: str, session_id: str, item_id: str | None, actor: str) -> DecisionOutcome:
        """Take the decision a button stands for: ``apply``, ``safe``, ``reject`` on the session, or
        ``approve`` / ``decline`` on its item ``item_id``."""
        with Store(self.files.store_path) as store:
            approvals = self._approvals(store)
            if action in ITEM_DECISIONS:
                if item_id is None:
                    raise DecisionError(f"{action} needs an item of session {session_id}")
                if action == "approve":
                    return approvals.apply_items(session_id, [item_id], actor)
                return approvals.reject_items(session_id, [item_id], actor)
            if action == "apply":
                return approvals.apply_all(session_id, actor)
            if action == "safe":
                return approvals.apply_safe(session_id, actor)
            if action == "reject":
                return approvals.reject_all(session_id, actor)
        raise DecisionError(f"unknown decision {action!r}; decisions are {SESSION_DECISIONS + ITEM_DECISIONS}")

    def apply_latest(self, actor: str) -> DecisionOutcome:
        """Apply every validated change of the newest session still awaiting a decision."""
        with Store(self.files.store_path) as store:
            approvals = self._approvals(store)
            return approvals.apply_all(_newest_pending(approvals), actor)

    def rollback(self, version: int | None, actor: str) -> tuple[int, int]:
        """Return the live playbook to ``version`` (default: undo the newest change still in effect,
        :meth:`Approvals.undo_target`), as a new version. Returns (the version returned to, the new version)."""
        with Store(self.files.store_path) as store:
            approvals = self._approvals(store)
            target = version if version is not None else approvals.undo_target()
            return target, approvals.rollback(target, actor, f"rollback from Telegram by {actor}")

    def status(self) -> DeskStatus:
        """Pending sessions, the last session, the live version and when the next scheduled tune is due."""
        with Store(self.files.store_path) as store:
            approvals = self._approvals(store)
            approvals.expire_overdue()
            sessions = store.sessions()
            live = store.latest_playbook_version()
            pending = tuple(approvals.pending())
        last = sessions[-1] if sessions else None
        next_tune = self._due_after(last) if self.settings.telegram.scheduled_tuning else None
        return DeskStatus(pending, last, live, next_tune)

    def history(self, limit: int = 10) -> list[PlaybookVersion]:
        """The newest ``limit`` playbook versions, oldest first."""
        with Store(self.files.store_path) as store:
            return store.playbook_versions()[-limit:]

    def next_tune_due(self) -> datetime:
        """``retraining_frequency`` days after the last session (from now when there is none), so a
        restart keeps the schedule."""
        with Store(self.files.store_path) as store:
            sessions = store.sessions()
        return self._due_after(sessions[-1] if sessions else None)

    def file_names(self) -> dict[str, str]:
        """What a chat shows instead of the absolute paths of the bot's files and of the folders holding
        them (as given and resolved): each one's last part, a candle file as ``prices/BTC_USDT-5m.feather``.
        Longest path first, so that a file is named before its folder."""
        files = self.files
        paths = [files.trades, files.signals, files.prices, files.playbook, files.store_path]
        paths += [files.playbook.parent, files.store_path.parent]
        names = {
            str(form): form.name
            for path in paths
            if path is not None
            for form in (path.absolute(), path.resolve())
            if form.name  # never the root folder
        }
        return dict(sorted(names.items(), key=lambda item: -len(item[0])))

    def _due_after(self, last_session: SessionRecord | None) -> datetime:
        interval = timedelta(days=self.settings.retraining_frequency)
        now = self.clock()
        return now + interval if last_session is None else max(now, last_session.created_at + interval)

    def _approvals(self, store: Store) -> Approvals:
        return Approvals(store, self.files.playbook, clock=self.clock)


def _newest_pending(approvals: Approvals) -> str:
    """The id of the newest session awaiting a decision."""
    pending = approvals.pending()
    if not pending:
        raise DecisionError("no session is awaiting a decision; run /tune")
    return pending[-1].id
