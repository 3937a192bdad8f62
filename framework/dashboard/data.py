"""Everything the dashboard shows, read from the store into typed dataclasses (no plotly here).

:func:`read_dashboard` opens the store, reads it and closes it again: the server calls it on every
request, so the page always shows the store as it is. A store that does not exist is refused, never
created. Times are UTC; fractions are fractions (0.25 = 25 %) except where a name says ``pct``;
durations are hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from framework.audit_report import JUDGED, AuditReport, ParameterStability, VersionAudit
from framework.errors import PlaybookTunerError, StoreError
from framework.playbook import DEFAULT_REGIME, Playbook, parse_playbook
from framework.playbook.schema import SPECS
from framework.session import DailyEquity, Session
from framework.store import AuditRecord, PlaybookVersion, SessionRecord, Store

RECENT_SESSIONS = 3
"""How many of the newest sessions show their changes' equity charts."""
NO_DATA_HINT = (
    "run `playbook-tuner tune` (on your trade log, or on the embedded sample without options) to store a "
    "session and the playbook's first version"
)


@dataclass(frozen=True)
class VersionRow:
    """One playbook version: ``created_at`` is when it went live (UTC); ``readable`` is False when its text
    is no valid playbook (a hand edit registered as it was), whose values are then not plotted."""

    version: int
    parent: int | None
    created_at: datetime
    author: str
    reason: str
    readable: bool


@dataclass(frozen=True)
class ParameterSeries:
    """One parameter's effective value in one regime (``default``, a regime, or ``strategy_weights`` with
    ``parameter`` a strategy) at each readable version, oldest first. Durations are hours, switches 1/0,
    None: no limit (or not set). ``unit`` is what the value is in."""

    regime: str
    parameter: str
    unit: str
    versions: tuple[int, ...]
    times: tuple[datetime, ...]
    values: tuple[float | None, ...]

    @property
    def changed(self) -> bool:
        """Whether any version changed this value."""
        return len(set(self.values)) > 1


@dataclass(frozen=True)
class SessionRow:
    """One tuning session: ``validated`` changes (its recommendations) and ``rejected`` proposals (refused
    by the safety rules or the gate); ``acceptance`` = validated / (validated + rejected), None when it
    proposed nothing. ``decisions`` counts its recommendations by status (pending, applied, rejected,
    expired). ``data_quality`` is percent (0-100) and ``quality_parts`` its parts, percent."""

    id: str
    created_at: datetime
    status: str
    playbook_version: int
    trades_analyzed: int
    validated: int
    rejected: int
    decisions: dict[str, int]
    data_quality: float | None
    quality_parts: dict[str, float]
    headline: str | None

    @property
    def acceptance(self) -> float | None:
        proposed = self.validated + self.rejected
        return self.validated / proposed if proposed else None


@dataclass(frozen=True)
class ModelPoint:
    """One tuner's model behind a proposal of a session: cross-validated ``r2`` and ``mae`` (the target's
    unit), and ``confidence`` (0-1) when the proposal was validated (None otherwise)."""

    session_id: str
    created_at: datetime
    tuner: str
    regime: str | None
    parameter: str | None
    validated: bool
    r2: float | None
    mae: float | None
    confidence: float | None


@dataclass(frozen=True)
class EquityChart:
    """The out-of-sample daily equity of one validated change, under the current playbook (``baseline``)
    and with the change (``candidate``), in quote currency at UTC day ends."""

    session_id: str
    created_at: datetime
    item: str
    regime: str
    parameter: str
    current: float | str | None
    proposed: float | str | None
    days: tuple[datetime, ...]
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]


@dataclass(frozen=True)
class LearningPoint:
    """The learning curve at the end of one ISO week (``week`` its Monday, UTC): of the versions judged by
    then (by the week an audit first judged them), how many were ``better``; ``share`` = better / judged."""

    week: datetime
    judged: int
    better: int

    @property
    def share(self) -> float:
        return self.better / self.judged


@dataclass(frozen=True)
class AuditView:
    """The latest stored audit (its report as it was stored), how many audits are stored and the learning
    curve over all of them."""

    report: AuditReport
    audits: int
    learning: tuple[LearningPoint, ...]

    @property
    def predicted_vs_realised(self) -> tuple[VersionAudit, ...]:
        """The versions with both a predicted and a realised effect."""
        return tuple(
            audit
            for audit in self.report.versions
            if audit.prediction is not None and audit.prediction.effect is not None and audit.realised is not None
        )

    @property
    def stability(self) -> tuple[ParameterStability, ...]:
        return self.report.stability


@dataclass(frozen=True)
class DashboardData:
    """What the dashboard shows of one store, read at ``generated_at`` (UTC)."""

    store: Path
    generated_at: datetime
    versions: tuple[VersionRow, ...]
    parameters: tuple[ParameterSeries, ...]
    sessions: tuple[SessionRow, ...]
    models: tuple[ModelPoint, ...]
    equity: tuple[EquityChart, ...]
    audit: AuditView | None

    @property
    def empty(self) -> bool:
        """Nothing stored yet: no version, no session, no audit."""
        return not self.versions and not self.sessions and self.audit is None

    @property
    def latest(self) -> datetime:
        """The newest time the store records (a version, a session or an audit); ``generated_at`` when empty."""
        moments = [row.created_at for row in self.versions] + [row.created_at for row in self.sessions]
        if self.audit is not None:
            moments.append(self.audit.report.audited_at)
        return max(moments, default=self.generated_at)

    @property
    def live_version(self) -> int | None:
        return self.versions[-1].version if self.versions else None

    @property
    def validated(self) -> int:
        return sum(session.validated for session in self.sessions)

    @property
    def rejected(self) -> int:
        return sum(session.rejected for session in self.sessions)

    @property
    def acceptance(self) -> float | None:
        proposed = self.validated + self.rejected
        return self.validated / proposed if proposed else None


def read_dashboard(
    path: Path,
    *,
    recent_sessions: int = RECENT_SESSIONS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DashboardData:
    """Read everything the dashboard shows from the store at ``path``, opened for this call and closed after.

    Raises :class:`~framework.errors.StoreError` when there is no store at ``path`` (none is created)
    or a stored document cannot be read."""
    if not path.is_file():
        raise StoreError(f"no store at {path}")
    with Store(path) as store:
        versions = store.playbook_versions()
        records = store.sessions()
        decisions = {record.id: [rec.status for rec in store.recommendations(record.id)] for record in records}
        audits = store.audits()
    sessions = tuple(_session(record, decisions[record.id]) for record in records)
    rows, series = _versions(versions)
    contents = [session for _, session in sessions]
    return DashboardData(
        store=path,
        generated_at=clock(),
        versions=rows,
        parameters=series,
        sessions=tuple(row for row, _ in sessions),
        models=tuple(point for session in contents for point in _models(session)),
        equity=tuple(chart for session in contents[-recent_sessions:] if recent_sessions for chart in _equity(session)),
        audit=_audit(audits),
    )


def _session(record: SessionRecord, decisions: Sequence[str]) -> tuple[SessionRow, Session]:
    try:
        session = Session.from_record(record)
    except ValueError as exc:
        raise StoreError(f"session {record.id}: {exc}") from None
    counts: dict[str, int] = {}
    for decided in decisions:
        counts[decided] = counts.get(decided, 0) + 1
    row = SessionRow(
        id=record.id,
        created_at=session.created_at,
        status=record.status,
        playbook_version=record.playbook_version,
        trades_analyzed=session.trades_analyzed,
        validated=len(session.recommendations),
        rejected=len(session.rejected),
        decisions=counts,
        data_quality=session.data_quality.score,
        quality_parts=dict(session.data_quality.parts),
        headline=session.headline,
    )
    return row, session


def _versions(versions: Sequence[PlaybookVersion]) -> tuple[tuple[VersionRow, ...], tuple[ParameterSeries, ...]]:
    """The version rows, and each (regime, parameter)'s value over the readable versions: the default
    block's, and a regime's where it differs from the default's at some version (the regime sets it)."""
    rows, values = [], []
    for version in versions:
        try:
            playbook = parse_playbook(version.text, f"version {version.version}")
        except PlaybookTunerError:
            playbook = None
        rows.append(
            VersionRow(
                version.version,
                version.parent,
                version.created_at,
                version.author,
                version.reason,
                playbook is not None,
            )
        )
        if playbook is not None:
            values.append((version, _playbook_values(playbook)))
    keys: dict[tuple[str, str], str] = {}
    for _, table in values:
        for key, (_, unit) in table.items():
            keys.setdefault(key, unit)
    every = [
        ParameterSeries(
            regime=regime,
            parameter=parameter,
            unit=unit,
            versions=tuple(version.version for version, _ in values),
            times=tuple(version.created_at for version, _ in values),
            values=tuple(table.get((regime, parameter), (None, unit))[0] for _, table in values),
        )
        for (regime, parameter), unit in keys.items()
    ]
    default = {(s.parameter, s.unit): s.values for s in every if s.regime == DEFAULT_REGIME}
    series = tuple(s for s in every if s.regime == DEFAULT_REGIME or default.get((s.parameter, s.unit)) != s.values)
    return tuple(rows), series


def _playbook_values(playbook: Playbook) -> dict[tuple[str, str], tuple[float | None, str]]:
    """(regime, parameter) -> (value as a number, unit) of one playbook: the default block, each regime the
    playbook gives a block of (its effective values), and the strategy weights. Tables (the ROI table) are
    left out: their scale (``minimal_roi_scale``) is a number and is kept."""
    table: dict[tuple[str, str], tuple[float | None, str]] = {}
    for regime in (DEFAULT_REGIME, *playbook.overrides):
        for name, spec in SPECS.items():
            if spec.kind == "table":
                continue
            value = playbook.value(regime, name)
            unit = "hours" if spec.kind == "duration" else ("on = 1" if spec.kind == "switch" else spec.unit)
            table[(regime, name)] = (_number(value), unit)
    for strategy, weight in playbook.strategy_weights.items():
        table[("strategy_weights", strategy)] = (float(weight), "weight")
    return table


def _number(value: object) -> float | None:
    """A playbook value as a number: durations in hours, switches 1/0, None as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, timedelta):  # pandas' Timedelta is one
        return value.total_seconds() / 3600
    return None


def _models(session: Session) -> list[ModelPoint]:
    points = []
    for rec in session.recommendations:
        model = rec.model
        points.append(
            ModelPoint(
                session.session_id,
                session.created_at,
                rec.tuner or "?",
                rec.regime,
                rec.parameter,
                True,
                model.r2 if model else None,
                model.mae if model else None,
                rec.confidence,
            )
        )
    for entry in session.rejected:
        model = entry.model
        if model is None or (model.r2 is None and model.mae is None):
            continue
        points.append(
            ModelPoint(
                session.session_id,
                session.created_at,
                entry.tuner or "?",
                entry.regime,
                entry.parameter,
                False,
                model.r2,
                model.mae,
                None,
            )
        )
    return points


def _equity(session: Session) -> list[EquityChart]:
    charts = []
    for rec in session.recommendations:
        series: DailyEquity | None = session.charts.equity_of(rec.id) if session.charts else None
        if series is None or not series.days:
            continue
        charts.append(
            EquityChart(
                session.session_id,
                session.created_at,
                rec.id,
                rec.regime,
                rec.parameter,
                rec.current,
                rec.proposed,
                series.days,
                series.baseline,
                series.candidate,
            )
        )
    return charts


def _audit(records: Sequence[AuditRecord]) -> AuditView | None:
    """The latest audit, and the learning curve: each version counts from the week an audit first judged
    it, with its verdict in the latest audit that judged it."""
    reports = []
    for record in records:
        try:
            reports.append(AuditReport.model_validate(record.payload))
        except ValueError as exc:
            raise StoreError(f"audit {record.id}: the stored report is malformed: {exc}") from None
    if not reports:
        return None
    first_judged: dict[int, datetime] = {}
    verdicts: dict[int, str] = {}
    for report in reports:
        for audit in report.versions:
            if audit.verdict in JUDGED:
                first_judged.setdefault(audit.version, report.audited_at)
                verdicts[audit.version] = audit.verdict
    weeks = sorted({_monday(moment) for moment in first_judged.values()})
    learning = []
    for week in weeks:
        counted = [version for version, moment in first_judged.items() if _monday(moment) <= week]
        learning.append(LearningPoint(week, len(counted), sum(verdicts[v] == "better" for v in counted)))
    return AuditView(reports[-1], len(reports), tuple(learning))


def _monday(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())
