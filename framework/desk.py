"""One desk for every channel: tune, decide, look things up, roll back; who may decide, when to tune next.

:class:`TuningDesk` is what the Telegram bot and the command line call (and any later channel, such as a
web dashboard): they parse, render and route, and the desk does the rest. Each call opens the store for
itself, so calls can run in worker threads, and every decision goes through
:class:`~framework.approval.Approvals` (idempotence, staleness, expiry, audit). The desk imports nothing
of Telegram, typer or rich.

:class:`Access` is the authorisation policy a channel consults before it lets a person act (the bot checks
every update's user and chat with it); :class:`Schedule` says when the next tune is due. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from framework.audit_report import AuditReport, VersionAudit
from framework.config import Settings, TelegramSettings
from framework.decisions import DecisionError, DecisionOutcome, awaiting_decision, is_overdue, utc_now
from framework.errors import PlaybookTunerError, StoreError
from framework.freqtrade_reload import ReloadNotice, tell_freqtrade
from framework.store import PlaybookVersion, RecommendationRecord, SessionRecord, Store

if TYPE_CHECKING:
    import pandas as pd

    from framework.approval import Approvals
    from framework.pipeline import TuneFiles, TuneOutcome
    from framework.quality import DataQuality
    from framework.tuners import TuningContext
    from framework.tuning import TuningPass

SESSION_DECISIONS = ("apply", "safe", "reject")
"""Decisions on a whole session: apply every pending change, the low-risk ones only, reject all."""
ITEM_DECISIONS = ("approve", "decline")
"""Decisions on one change of a session."""
RECENT = timedelta(days=7)
"""How far back :meth:`TuningDesk.status` lists sessions by default."""


@dataclass(frozen=True)
class Access:
    """Who may use a channel and decide: a user of ``users`` in a chat of ``chats`` (both must hold).

    An empty list refuses everyone. Ids are the channel's numeric ids (Telegram's user and chat ids; a
    private chat's id is the user's)."""

    users: frozenset[int]
    chats: frozenset[int]

    @classmethod
    def from_settings(cls, telegram: TelegramSettings) -> Access:
        return cls(frozenset(telegram.allowed_user_ids), frozenset(telegram.allowed_chat_ids))

    @property
    def refuses_everyone(self) -> bool:
        """Whether an empty list makes every request a refusal."""
        return not self.users or not self.chats

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        """Whether ``user_id`` may act in ``chat_id``; None (an update without a sender or chat) never may."""
        return user_id is not None and chat_id is not None and user_id in self.users and chat_id in self.chats


@dataclass(frozen=True)
class Schedule:
    """When tuning runs by itself: every ``every`` after the last session, if ``enabled``."""

    enabled: bool
    every: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        return cls(settings.telegram.scheduled_tuning, timedelta(days=settings.retraining_frequency))

    def due_after(self, last_session: SessionRecord | None, now: datetime) -> datetime:
        """``every`` after the last session (``now`` when that is past: an overdue run is due at once), or
        ``every`` from ``now`` when there is no session; so a restart keeps the schedule."""
        if last_session is None:
            return now + self.every
        return max(now, last_session.created_at + self.every)


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
    """Where things stand: the sessions awaiting a decision (oldest first), the last session, the live
    version, when the next scheduled tune is due (None: scheduled tuning is off) and the sessions created
    since ``since`` with their recommendations. Times are UTC."""

    pending: tuple[SessionRecord, ...]
    last_session: SessionRecord | None
    live_version: PlaybookVersion | None
    next_tune: datetime | None
    since: datetime
    recent: tuple[SessionView, ...]
    flagged: tuple[VersionAudit, ...] = ()
    """The versions the latest stored audit found worse than the version they replaced."""


@dataclass(frozen=True)
class Rollback:
    """A rollback done: the live playbook holds the text of version ``target`` again, as version ``new``.

    ``freqtrade`` is what telling the running freqtrade came to (None: no ``[freqtrade] api_url`` is set)."""

    target: int
    new: int
    freqtrade: ReloadNotice | None = None


@dataclass(frozen=True)
class ProposalRun:
    """The tuners' proposals on the whole lookback, after the safety rules; nothing validated or stored.

    ``regenerated`` is the signal log rebuilt from strategies, when one was asked for."""

    tuning: TuningPass
    context: TuningContext
    quality: DataQuality
    regenerated: pd.DataFrame | None


class TuningDesk:
    """Tuning and decisions on the files of one bot: its trade log, candles, live playbook and store.

    ``lookback_days`` overrides ``settings.lookback_days`` for every tune (the embedded sample uses all
    of its days); ``clock`` gives the current UTC time (injectable for tests). A desk made with
    :meth:`on_store` has a store only: it decides, rolls back and looks things up, with the live
    playbook the store's latest version names, but cannot tune.

    Whenever a call publishes a version (an apply, an auto-apply after a tune, a rollback), the freqtrade
    at ``settings.freqtrade.api_url`` is then told to reload its config; the version stays published
    whatever freqtrade answers, and the outcome's message (or :attr:`Rollback.freqtrade`) says how it went.
    """

    def __init__(
        self,
        files: TuneFiles | None,
        settings: Settings,
        *,
        store: Path | None = None,
        seed: int = 0,
        lookback_days: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        if store is None:
            if files is None:
                raise ValueError("a desk needs the bot's files or at least its store")
            store = files.store_path
        self._files = files
        self.store_path: Path = store
        self.settings = settings
        self.seed = seed
        self.lookback_days = lookback_days
        self.clock = clock
        self.access = Access.from_settings(settings.telegram)
        self.schedule = Schedule.from_settings(settings)

    @classmethod
    def on_store(
        cls, store: Path, settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
    ) -> TuningDesk:
        """A desk on ``store`` alone (the command line's decisions and lookups)."""
        return cls(None, settings or Settings(), store=store, clock=clock)

    @property
    def files(self) -> TuneFiles:
        """The bot's files; a desk made with :meth:`on_store` has none."""
        if self._files is None:
            raise PlaybookTunerError(
                f"this desk knows only the store {self.store_path}: tuning needs the trade log, candles and playbook"
            )
        return self._files

    # --- tuning ----------------------------------------------------------------------------------

    def tune(
        self,
        progress: Callable[[str], None] = lambda step: None,
        *,
        candidate: Path | None = None,
        period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
        lenient: bool = False,
        search_storage: str | None = None,
    ) -> TuneOutcome:
        """Run the tune pipeline once and store its session (blocking: seconds to minutes).

        With ``candidate``, a hand-written playbook is put through the same gate instead of the tuners'
        proposals; ``period`` (UTC, [start, end)) narrows the lookback's trades; ``search_storage`` (an
        Optuna storage URL, default ``settings.search_storage``) keeps the searches."""
        from framework.pipeline import run_tune

        outcome = run_tune(
            self.files,
            self.settings,
            seed=self.seed,
            lookback_days=self.lookback_days,
            period=period,
            candidate=candidate,
            lenient=lenient,
            search_storage=search_storage,
            progress=progress,
            clock=self.clock,
        )
        if outcome.auto_applied is None:
            return outcome
        return replace(outcome, auto_applied=self._tell_freqtrade(outcome.auto_applied))

    def propose(
        self,
        progress: Callable[[str], None] = lambda step: None,
        *,
        strategies: Sequence[str] = (),
        models: Path | None = None,
        search_storage: str | None = None,
        lenient: bool = False,
    ) -> ProposalRun:
        """Run the tuners on every trade of the log and pass their proposals through the safety rules;
        nothing is validated or stored.

        ``strategies`` (names or ``path.py:Class``) rebuild the signal log from the candles instead of
        reading one; ``models`` saves the fitted models there (joblib, versioned); ``search_storage``
        (an Optuna storage URL, default ``settings.search_storage``) lets workers share the searches,
        which load the data from these files, read with these settings (not with rebuilt signals: a
        worker has no file of them)."""
        from framework.market import load_market
        from framework.models import ModelStore
        from framework.pipeline import read_logs
        from framework.playbook import load_playbook
        from framework.quality import data_quality
        from framework.regimes import label_trades
        from framework.search import chosen_storage
        from framework.strategy import load_strategy
        from framework.tuners import load_tuners
        from framework.tuning import build_context, regenerate_signals, run_tuners

        files, settings = self.files, self.settings
        if files.signals and strategies:
            raise PlaybookTunerError("give either a signal log or strategies to rebuild one from, not both")
        search_storage = chosen_storage(search_storage, settings)
        progress("loading the trade log, candles and playbook")
        trades, signals = read_logs(files, settings, progress, lenient=lenient)
        market = load_market(files.prices)
        regenerated = None
        if strategies:
            progress(f"rebuilding the signal log with {', '.join(strategies)}")
            loaded = [load_strategy(spec) for spec in strategies]
            signals = regenerated = regenerate_signals(label_trades(trades, market), market, loaded)
        playbook = load_playbook(files.playbook)
        tuners = load_tuners(list(settings.tuners), settings.tuner_options)
        progress(f"tuning on {len(trades)} trades from {files.trades.name}")
        context = build_context(
            trades, market, playbook, settings, signals=signals, seed=self.seed,
            search_storage=search_storage, data_ref=None if strategies else files.data_ref(settings, lenient=lenient),
        )  # fmt: skip
        tuning = run_tuners(tuners, context, ModelStore(models) if models else None, progress=progress)
        return ProposalRun(tuning, context, data_quality(context.trades, settings), regenerated)

    # --- decisions -------------------------------------------------------------------------------

    def decide(self, action: str, session_id: str, item_id: str | None, actor: str) -> DecisionOutcome:
        """Take the decision a button stands for: one of :data:`SESSION_DECISIONS` on the session, or of
        :data:`ITEM_DECISIONS` on its item ``item_id``."""
        if action in ITEM_DECISIONS:
            if item_id is None:
                raise DecisionError(f"{action} needs an item of session {session_id}")
            if action == "approve":
                return self.apply(session_id, actor, items=[item_id])
            return self.reject(session_id, actor, items=[item_id])
        if action in SESSION_DECISIONS:
            if action == "reject":
                return self.reject(session_id, actor)
            return self.apply(session_id, actor, safe_only=action == "safe")
        raise DecisionError(f"unknown decision {action!r}; decisions are {SESSION_DECISIONS + ITEM_DECISIONS}")

    def apply(
        self, session_id: str | None, actor: str, *, items: Iterable[str] | None = None, safe_only: bool = False
    ) -> DecisionOutcome:
        """Apply the pending changes of the session (None: the newest awaiting a decision) as one new
        playbook version: all of them, or the ``items`` named; with ``safe_only``, the low-risk ones only."""
        with Store(self.store_path, clock=self.clock) as store:
            approvals = self._approvals(store)
            session_id = session_id or _newest_pending(store, self.clock())
            if items is not None:
                outcome = approvals.apply_items(session_id, items, actor, safe_only=safe_only)
            elif safe_only:
                outcome = approvals.apply_safe(session_id, actor)
            else:
                outcome = approvals.apply_all(session_id, actor)
        return self._tell_freqtrade(outcome)

    def reject(self, session_id: str, actor: str, *, items: Iterable[str] | None = None) -> DecisionOutcome:
        """Reject the pending changes of the session: all of them, or the ``items`` named."""
        with Store(self.store_path, clock=self.clock) as store:
            approvals = self._approvals(store)
            if items is not None:
                return approvals.reject_items(session_id, items, actor)
            return approvals.reject_all(session_id, actor)

    def rollback(self, version: int | None, actor: str, reason: str) -> Rollback:
        """Return the live playbook to ``version`` as a new version. Without a version, undo the newest
        change still in effect (:meth:`~framework.approval.Approvals.undo_target`; ``NothingToRollBack``
        when there is none), so rolling back again goes further back and never redoes a change just undone.

        ``reason`` is recorded with the new version and in the audit log."""
        with Store(self.store_path, clock=self.clock) as store:
            approvals = self._approvals(store)
            target = version if version is not None else approvals.undo_target()
            new = approvals.rollback(target, actor, reason)
        return Rollback(target, new, tell_freqtrade(self.settings.freqtrade))

    # --- the post-apply audit --------------------------------------------------------------------

    def audit(self, progress: Callable[[str], None] = lambda step: None) -> AuditReport:
        """Audit every applied version on the trades made while it was live, store the report and return
        it (:mod:`framework.audit`). It never rolls anything back."""
        from framework.audit import run_audit  # the replay, pandas, numba

        return run_audit(self.files, self.settings, clock=self.clock, progress=progress)

    def latest_audit(self) -> AuditReport | None:
        """The newest stored audit (None: none ran yet); nothing is replayed."""
        with Store(self.store_path, clock=self.clock) as store:
            record = store.latest_audit()
        return AuditReport.model_validate(record.payload) if record else None

    def roll_back_flagged(self, version: int, actor: str) -> Rollback:
        """Return the live playbook to the version ``version`` replaced, because the latest audit flags
        ``version`` as worse than it. Only while ``version`` is live and flagged: pressing twice, or after
        someone else rolled back or published, is answered with a :class:`DecisionError` and does nothing."""
        with Store(self.store_path, clock=self.clock) as store:
            record = store.latest_audit()
            flagged = AuditReport.model_validate(record.payload).of(version) if record else None
            if flagged is None or not flagged.flagged or flagged.replaced is None:
                raise DecisionError(f"the latest audit does not find version {version} worse: nothing rolled back")
            reason = f"the audit found version {version} worse than version {flagged.replaced}: {flagged.note}"
            new = self._approvals(store).rollback(flagged.replaced, actor, reason, expected_live=version)
        return Rollback(flagged.replaced, new, tell_freqtrade(self.settings.freqtrade))

    # --- looking things up -----------------------------------------------------------------------

    def view(self, session_id: str | None = None) -> SessionView:
        """The session now (default: the newest awaiting a decision); an overdue pending session is
        marked expired first."""
        with Store(self.store_path, clock=self.clock) as store:
            self._expire_overdue(store)
            session_id = session_id or _newest_pending(store, self.clock())
            try:
                session = store.session(session_id)
            except StoreError as exc:
                raise DecisionError(str(exc)) from exc
            return SessionView(session, tuple(store.recommendations(session_id)))

    def status(self, recent: timedelta = RECENT) -> DeskStatus:
        """Pending sessions, the last session, the live version, when the next scheduled tune is due, and
        the sessions of the last ``recent``; overdue pending sessions are marked expired first."""
        now = self.clock()
        since = now - recent
        with Store(self.store_path, clock=self.clock) as store:
            self._expire_overdue(store)
            sessions = store.sessions()
            live = store.latest_playbook_version()
            views = tuple(SessionView(s, tuple(store.recommendations(s.id))) for s in sessions if s.created_at >= since)
            audit = store.latest_audit()
        pending = tuple(awaiting_decision(sessions, now))
        last = sessions[-1] if sessions else None
        next_tune = self.schedule.due_after(last, now) if self.schedule.enabled else None
        flagged = AuditReport.model_validate(audit.payload).flagged() if audit else ()
        return DeskStatus(pending, last, live, next_tune, since, views, flagged)

    def history(self, limit: int | None = 10) -> list[PlaybookVersion]:
        """The newest ``limit`` playbook versions (None: all), oldest first."""
        with Store(self.store_path, clock=self.clock) as store:
            versions = store.playbook_versions()
        return versions if limit is None else versions[-limit:]

    def next_tune_due(self) -> datetime:
        """When the next tune is due by :attr:`schedule`, from the last stored session."""
        with Store(self.store_path, clock=self.clock) as store:
            sessions = store.sessions()
        return self.schedule.due_after(sessions[-1] if sessions else None, self.clock())

    def file_names(self) -> dict[str, str]:
        """What a channel shows instead of the absolute paths of the bot's files and of the folders holding
        them (as given and resolved): each one's last part, a candle file as ``prices/BTC_USDT-5m.feather``.
        Longest path first, so that a file is named before its folder."""
        paths: list[Path | None] = [self.store_path, self.store_path.parent]
        if self._files is not None:
            files = self._files
            paths += [files.trades, files.signals, files.prices, files.playbook, files.playbook.parent]
        names = {
            str(form): form.name
            for path in paths
            if path is not None
            for form in (path.absolute(), path.resolve())
            if form.name  # never the root folder
        }
        return dict(sorted(names.items(), key=lambda item: -len(item[0])))

    def _tell_freqtrade(self, outcome: DecisionOutcome) -> DecisionOutcome:
        """``outcome``, its message ending with what telling freqtrade came to when it published a version.

        Called with the store closed, so no write waits on freqtrade's answer."""
        if outcome.new_version is None:
            return outcome
        notice = tell_freqtrade(self.settings.freqtrade)
        return outcome if notice is None else replace(outcome, message=f"{outcome.message}; {notice.line}")

    def _expire_overdue(self, store: Store) -> None:
        """Mark the overdue pending sessions expired; the approval core (the playbook model, pandas) is
        loaded only when there is one, so a status or a view starts fast."""
        now = self.clock()
        if any(is_overdue(s, now) for s in store.sessions()):
            self._approvals(store).expire_overdue()

    def _approvals(self, store: Store) -> Approvals:
        from framework.approval import Approvals  # the playbook model and pandas: not for a status

        return Approvals(store, self._live_playbook(store), clock=self.clock)

    def _live_playbook(self, store: Store) -> Path:
        """The live file: the bot's playbook, or for a desk on the store alone the one its latest version names."""
        if self._files is not None:
            return self._files.playbook
        latest = store.latest_playbook_version()
        if latest is None:
            raise DecisionError(f"the store {self.store_path} has no playbook version yet: run tune first")
        return Path(latest.path)


def _newest_pending(store: Store, now: datetime) -> str:
    """The id of the newest session awaiting a decision at ``now``."""
    pending = awaiting_decision(store.sessions(), now)
    if not pending:
        raise DecisionError("no session is awaiting a decision; run tune")
    return pending[-1].id
