"""A session (``tune``, ``validate``, ``show``) and a post-apply audit (``audit``, ``status``, ``tune``) as the
terminal shows them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.markup import escape

from framework.cli.common import console, say
from framework.formatting import (
    AUDIT_MEASURES,
    AUDIT_TESTS,
    MISSING,
    RISK_ICONS,
    VERDICT_TEXTS,
    accuracy_text,
    change_text,
    effect_text,
    evidence_lines,
    metric_text,
    number_text,
    p_value_text,
    utc_text,
    value_text,
)

if TYPE_CHECKING:
    from framework.audit_report import AuditReport, VersionAudit
    from framework.session import Session


def print_session(session: Session, statuses: dict[str, str] | None = None) -> None:
    """Validated changes per regime, then the rejected ones, the headline when nothing validated, and
    data quality. ``statuses`` (by item id) marks each change's decision, for ``show``."""
    recommendations = session.recommendations
    say(f"\nsession {session.session_id}: {len(recommendations)} validated changes")
    for regime in dict.fromkeys(r.regime for r in recommendations):
        console.print(f"[bold]{escape(regime)}[/]", markup=True)
        for item in (r for r in recommendations if r.regime == regime):
            status = f"  [{statuses[item.id]}]" if statuses else ""
            validation = item.validation
            p_value, dsr = (validation.p_value, validation.dsr) if validation else (None, None)
            say(
                f"  {RISK_ICONS[item.risk]} {item.id} {item.parameter}: {value_text(item.current)} → "
                f"{value_text(item.proposed)} ({item.risk} risk, confidence {item.confidence:.0%}, "
                f"p={number_text(p_value, '.3f')}, DSR {number_text(dsr, '.2f')}){status}"
            )
            for line in evidence_lines(validation.evidence if validation else {}):
                say(f"      {line}")
    say(f"rejected ({len(session.rejected)}):")
    for entry in session.rejected:
        say(f"  {entry.regime}.{entry.parameter} ({entry.tuner}): {entry.reason}")
    if session.headline:
        say(session.headline)
    quality = session.data_quality
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality.parts.items())
    say(f"data quality {number_text(quality.score, '.0f', ' %')} ({parts}); {session.trades_analyzed} trades analysed")
    if recommendations and statuses is None:
        say(f"approve with: playbook-tuner apply {session.session_id} [--safe-only | --items r1,r2]")


def print_audit(report: AuditReport) -> None:
    """One table of the audited versions (realised against predicted effect, verdict), each version's
    changes, replays and note, the recommendation accuracy and the parameters' stability."""
    from rich.table import Table

    live = f"; live: version {report.live_version}" if report.live_version is not None else ""
    say(
        f"audit at {utc_text(report.audited_at)}{live}: one-sided tests at {report.alpha:g}, "
        f"judged from {report.min_trades} trades"
    )
    if not report.versions:
        say("no applied version to audit yet: a version is audited once a session's changes go live")
    else:
        table = Table(title="Applied playbook versions, each against the version it replaced, on its live trades")
        for column in ("version", "replaced", "live from (UTC)", "trades", "test", "realised per trade (90 %)"):
            table.add_column(column, no_wrap=True)
        table.add_column("predicted")
        table.add_column("verdict", no_wrap=True)
        for audit in report.versions:
            realised, prediction = audit.realised, audit.prediction
            table.add_row(
                f"{audit.version}{' (live)' if audit.version == report.live_version else ''}",
                MISSING if audit.replaced is None else str(audit.replaced),
                utc_text(audit.live_from, zone=False),
                str(realised.trades) if realised else MISSING,
                realised.kind if realised else MISSING,
                _realised(realised.effect, realised.interval) if realised else MISSING,
                _predicted(prediction.kind, prediction.effect, realised.kind if realised else None)
                if prediction
                else MISSING,
                VERDICT_TEXTS.get(audit.verdict, audit.verdict),
            )
        console.print(table)
        for audit in report.versions:
            _print_details(audit)
    accuracy = report.accuracy
    due = [audit.judgeable_at for audit in report.versions if audit.verdict == "young" and audit.judgeable_at]
    say(
        "accuracy: "
        + accuracy_text(
            accuracy.better, accuracy.judged, accuracy.share_better, accuracy.young, accuracy.unaudited,
            min(due) if due else None,
        )
    )  # fmt: skip
    _print_stability(report)


def flagged_lines(flagged: Iterable[VersionAudit], live_version: int | None) -> list[str]:
    """One line per flagged version: what it did against the version it replaced and, while it is live,
    the rollback command."""
    lines = []
    for audit in flagged:
        finding = audit.underperformance()
        if audit.version == live_version:
            lines.append(f"{finding}; roll back with `playbook-tuner rollback {audit.replaced}`")
        else:
            lines.append(f"{finding}; no longer live")
    return lines


def _print_details(audit: VersionAudit) -> None:
    say(f"version {audit.version} ({audit.author}: {audit.reason})")
    for change in audit.changes:
        say(f"  {change.regime}.{change.parameter}: {change_text(change.before, change.after)}")
    realised = audit.realised
    if realised:
        for name, side in (
            (f"version {audit.version}", realised.version),
            (f"version {audit.replaced}", realised.replaced),
        ):
            growth, total = metric_text("log_growth", side.log_growth), metric_text("total_return", side.total_return)
            say(
                f"  replayed under {name}: {side.trades_taken} trades taken, log growth {growth}, return {total}, "
                f"max drawdown {metric_text('max_drawdown', side.max_drawdown)}"
            )
        say(
            f"  {AUDIT_TESTS.get(realised.kind, realised.kind)}: {AUDIT_MEASURES.get(realised.kind, realised.kind)} "
            f"{effect_text(realised.effect, realised.interval)} over {realised.trades} trades, {realised.days:.0f} "
            f"days in {realised.clusters} daily clusters; one-sided p-values: better "
            f"{p_value_text(realised.p_better)}, worse {p_value_text(realised.p_worse)}"
        )
    prediction = audit.prediction
    if prediction:
        measure = AUDIT_MEASURES.get(prediction.kind, prediction.kind)
        say(
            f"  predicted by session {prediction.session_id} ({', '.join(prediction.items)}): "
            f"{measure} {effect_text(prediction.effect, prediction.interval)}"
        )
    judgeable = f" (judgeable at {utc_text(audit.judgeable_at)})" if audit.judgeable_at else ""
    say(f"  {VERDICT_TEXTS.get(audit.verdict, audit.verdict)}: {audit.note}{judgeable}")


def _print_stability(report: AuditReport) -> None:
    from rich.table import Table

    moved = sorted(report.stability, key=lambda entry: -(entry.mean_move if entry.mean_move is not None else -1.0))
    if not moved:
        say("parameter stability: no parameter recommended in a session yet")
        return
    table = Table(title="Parameter stability: each parameter's recommended value, session after session")
    for column in ("regime", "parameter", "sessions", "values (oldest first)", "mean move", "reversals"):
        table.add_column(column, no_wrap=column != "values (oldest first)")
    for entry in moved:
        table.add_row(
            entry.regime,
            entry.parameter,
            str(len(entry.sessions)),
            " → ".join(value_text(value) for value in entry.values),
            number_text(None if entry.mean_move is None else 100 * entry.mean_move, ".0f", " %"),
            str(entry.reversals),
        )
    console.print(table)


def _realised(effect: float, interval: tuple[float, float]) -> str:
    return f"{number_text(effect, '+.4f')} ({number_text(interval[0], '+.4f')} .. {number_text(interval[1], '+.4f')})"


def _predicted(kind: str, effect: float | None, realised_kind: str | None) -> str:
    if effect is None:
        return f"{MISSING} (different tests)"
    own = f" ({kind})" if realised_kind is not None and kind != realised_kind else ""
    return f"{number_text(effect, '+.4f')}{own}"
