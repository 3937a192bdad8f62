"""The bot's texts, built by pure functions from stored sessions (plain text, no parse mode).

A session's summary is rendered from the store every time, so it reads the same after a restart and
follows the decisions as they are taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from framework.audit_report import AuditReport, ParameterStability, VersionAudit
from framework.config import Settings, settings_to_toml
from framework.decisions import DecisionOutcome
from framework.desk import DeskStatus, Rollback, SessionView
from framework.formatting import (
    AUDIT_MEASURES,
    AUDIT_TESTS,
    RISK_ICONS,
    VERDICT_TEXTS,
    change_text,
    effect_text,
    evidence_lines,
    metric_text,
    number_text,
    p_value_text,
    utc_text,
    value_text,
)
from framework.formatting import accuracy_text as format_accuracy
from framework.session import Assessment, Session, Validation
from framework.store import PlaybookVersion, RecommendationRecord

_URL_PASSWORD = re.compile(r"(://[^:/@\s\"]+:)[^@\s\"]+@")
MAX_TEXT = 4096
"""Telegram's longest message text, in characters."""
MAX_ANSWER = 200
"""Telegram shows at most 200 characters of a callback query's answer."""
MAX_RATIONALE = 600
"""Characters of a tuner's rationale shown in review, so the evidence below it always fits."""
STATUS_MARKS = {"pending": "", "applied": " ✅ applied", "rejected": " ❌ rejected", "expired": " ⌛ expired"}
COMPARED_METRICS = ("log_growth", "total_return", "sharpe", "max_drawdown", "trades_taken", "liquidations")
MAX_REASON = 80
"""Characters of a version's reason shown in an audit's text."""
AUDITED_SHOWN = 8
"""The newest versions an audit's text shows (the CLI's ``audit`` shows them all)."""
CHANGES_SHOWN = 3
"""A version's changes named in an audit's text."""
STABILITY_SHOWN = 5
"""The parameters whose recommendation moved most, in an audit's text."""
VALUES_SHOWN = 6
"""The newest recommended values of one parameter shown."""

HELP = """playbook-tuner: tunes the bot's playbook from its own trades; nothing changes without your approval.

/tune - run a tuning session now: tune, validate out of sample, send the validated changes for approval
/tune status - sessions awaiting a decision, the live playbook version, the next scheduled run
/tune config - the configuration in use
/tune show [session] - a session's summary and buttons again (default: the newest pending)
/tune apply - apply every validated change of the newest pending session
/tune audit - audit every applied version on the trades made while it was live, against the version it
replaced; an alert with a Roll back button for a live version that did worse
/tune history - the latest playbook versions
/tune rollback [version] - return to an earlier version (default: the one before)
/help - this text

Under a session: Apply All, Safe Only (low-risk changes only), Review (one message per change with its
evidence, to approve or reject each), Reject. Under an audit's alert: Roll back returns to the version
the flagged one replaced; nothing is ever rolled back without it. The scheduled run audits before it tunes."""


def progress_text(step: str) -> str:
    """The progress message while a tune runs."""
    return f"⏳ {step[:1].upper()}{step[1:]}..."


def summary_text(view: SessionView, note: str = "") -> str:
    """The session's summary: per regime, each validated change with its risk, old → new, confidence and
    status; the rejected proposals in one line; data quality; expiry. ``note`` is added at the end."""
    session, contents = view.session, Session.from_record(view.session)
    recommendations = view.recommendations
    count = len(recommendations)
    lines = [f"🧪 Tuning session {session.id}: {count} validated change{'' if count == 1 else 's'}"]
    quality = contents.data_quality.score
    lines.append(f"{contents.trades_analyzed:,} trades analysed, data quality {number_text(quality, '.0f', ' %')}")
    for regime in dict.fromkeys(rec.regime for rec in recommendations):
        lines.append("")
        lines.append(regime)
        lines.extend(_item_line(rec) for rec in recommendations if rec.regime == regime)
    rejected = len(contents.rejected)
    lines.append("")
    lines.append(f"{rejected} proposal{'' if rejected == 1 else 's'} rejected by validation or by the tuners")
    if session.status == "pending":
        lines.append(f"Open until {utc_text(session.expires_at)}")
    elif count:
        lines.append(f"Session {session.status}")
    if note:
        lines.append(note)
    return _fit(lines)


def review_text(view: SessionView, rec: RecommendationRecord) -> str:
    """One recommendation with its evidence: model quality, data quality, out-of-sample metrics before and
    after, p-value, deflated Sharpe ratio and the number of trials behind it."""
    assessment = Assessment.parse(rec.payload)
    check = assessment.validation or Validation()
    change = number_text(assessment.change_pct, "+.0f", " %")
    lines = [
        f"{RISK_ICONS.get(rec.risk, '')} {rec.id} · {rec.regime} · {rec.parameter}: "
        f"{change_text(rec.current, rec.proposed)} ({change}){STATUS_MARKS.get(rec.status, '')}",
        f"risk {rec.risk}, confidence {rec.confidence:.0%}, tuner {assessment.tuner or '?'}",
    ]
    if assessment.rationale:
        lines.append(f"why: {_clip(assessment.rationale, MAX_RATIONALE)}")
    model = assessment.model
    if model:
        lines.append(f"model (out of fold): R2 {number_text(model.r2, '.3f')}, MAE {number_text(model.mae, '.4f')}")
    else:
        lines.append("model: none (a search over replays)")
    quality = Session.from_record(view.session).data_quality.score
    lines.append(f"data quality {number_text(quality, '.0f', ' %')}")
    before, after = check.baseline, check.candidate
    scope = "?" if check.out_of_sample_trades is None else check.out_of_sample_trades
    lines.append(f"out of sample, whole playbook, before → after ({scope} of the trades in {rec.regime}):")
    lines.extend(
        f"  {name}: {metric_text(name, before.get(name))} → {metric_text(name, after.get(name))}"
        for name in COMPARED_METRICS
        if name in before or name in after
    )
    trials = "?" if check.n_trials is None else check.n_trials
    lines.append(
        f"p-value {p_value_text(check.p_value)}, DSR {number_text(check.dsr, '.2f')}, "
        f"{trials} candidates tried by the tuner"
    )
    lines.extend(evidence_lines(check.evidence))
    return _fit(lines)


def decision_note(outcome: DecisionOutcome, actor_name: str) -> str:
    """One line under the summary about the decision just taken."""
    return f"Last decision by {actor_name}: {outcome.message}"


def press_answer(outcome: DecisionOutcome, view: SessionView) -> str:
    """The short answer to a button press."""
    session = view.session
    if not outcome.applied and not outcome.rejected and session.status != "pending":
        return _clip(f"Session {session.id} is {session.status}: nothing changed. {outcome.message}", MAX_ANSWER)
    return _clip(outcome.message, MAX_ANSWER)


def refusal_answer(reason: str, session_id: str, item_id: str | None = None) -> str:
    """The answer to a press on ``session_id`` (and its item ``item_id``) that the core refused for
    ``reason`` (unknown session or item, a busy store, ...)."""
    where = f"session {session_id}" + (f", item {item_id}" if item_id else "")
    return _clip(f"Nothing changed on {where}: {reason}", MAX_ANSWER)


def without_paths(text: str, names: Mapping[str, str]) -> str:
    """``text`` with each path of ``names`` (path text -> name, longest path first) replaced by its name,
    so that a chat never shows the folders of the bot's host."""
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def failure_text(why: str) -> str:
    """The message of a tuning run that failed."""
    return _clip(f"❌ Tuning failed, nothing was stored: {why}", MAX_TEXT)


def status_text(status: DeskStatus) -> str:
    lines = []
    if status.live_version:
        live = status.live_version
        lines.append(f"Live playbook: version {live.version} ({utc_text(live.created_at)}, {live.author})")
    else:
        lines.append("No playbook version yet: run /tune")
    live_version = status.live_version.version if status.live_version else None
    lines.extend(flagged_line(audit, live_version) for audit in status.flagged)
    if status.pending:
        lines.append(f"Awaiting a decision: {len(status.pending)} session(s)")
        lines.extend(f"  {s.id}: open until {utc_text(s.expires_at)}" for s in status.pending)
    else:
        lines.append("No session awaiting a decision")
    if status.last_session:
        last = status.last_session
        lines.append(f"Last session: {last.id} ({last.status}), {utc_text(last.created_at)}")
    lines.append(
        f"Next scheduled tune: {utc_text(status.next_tune)}" if status.next_tune else "Scheduled tuning is off"
    )
    return _fit(lines)


def history_text(versions: Sequence[PlaybookVersion]) -> str:
    if not versions:
        return "No playbook version yet: run /tune"
    lines = ["Playbook versions (newest last):"]
    lines.extend(f"v{v.version} · {utc_text(v.created_at)} · {v.author} · {v.reason}" for v in versions)
    return _fit(lines)


def config_text(settings: Settings) -> str:
    """The configuration in use, with any password in a storage URL masked: a chat is not a terminal."""
    return _fit(["Configuration in use:", "", _URL_PASSWORD.sub(r"\1***@", settings_to_toml(settings))])


def audit_text(report: AuditReport) -> str:
    """An audit: each applied version (the newest :data:`AUDITED_SHOWN`) with when it went live, its trades,
    the realised effect with its interval and test, the session's predicted effect and the verdict with
    its note; the recommendation accuracy; the parameters whose recommendation moved most."""
    count = len(report.versions)
    live = f"; live: version {report.live_version}" if report.live_version is not None else ""
    lines = [f"🔎 Audit of {count} applied version{'' if count == 1 else 's'}, {utc_text(report.audited_at)}{live}"]
    if not report.versions:
        lines.append("No applied version to audit yet: a version is audited once a session's changes go live.")
    tail = ["", accuracy_text(report), "", *stability_lines(report.stability)]
    blocks = ["\n" + "\n".join(_audit_lines(audit, report.live_version)) for audit in report.versions[-AUDITED_SHOWN:]]
    room = MAX_TEXT - len("\n".join([*lines, "The newest 99; all 99999: playbook-tuner audit", *tail]))
    while len(blocks) > 1 and sum(len(block) + 1 for block in blocks) > room:
        blocks.pop(0)  # the oldest goes first, so that the text fits
    if len(blocks) < count:
        lines.append(f"The newest {len(blocks)}; all {count}: playbook-tuner audit")
    return _fit([*lines, *blocks, *tail])


def accuracy_text(report: AuditReport) -> str:
    """The recommendation accuracy in one line: ``N of M judged changes did better (x %), K too young,
    next judgeable at ...``."""
    accuracy = report.accuracy
    return format_accuracy(
        accuracy.better, accuracy.judged, accuracy.share_better, accuracy.young, accuracy.unaudited,
        next_judgeable(report),
    )  # fmt: skip


def next_judgeable(report: AuditReport) -> datetime | None:
    """When the first young version will have enough trades at the effect measured so far (UTC)."""
    due = [audit.judgeable_at for audit in report.versions if audit.verdict == "young" and audit.judgeable_at]
    return min(due) if due else None


def stability_lines(stability: Sequence[ParameterStability], shown: int = STABILITY_SHOWN) -> list[str]:
    """The ``shown`` parameters whose recommended value moved most from session to session."""
    moved = sorted(
        (entry for entry in stability if entry.mean_move is not None),
        key=lambda entry: -(entry.mean_move or 0.0),
    )[:shown]
    if not moved:
        return ["Parameter stability: no parameter recommended in two sessions yet"]
    lines = ["Parameter stability (the recommendations that moved most between sessions):"]
    for entry in moved:
        values = " → ".join(value_text(value) for value in entry.values[-VALUES_SHOWN:])
        more = "… → " if len(entry.values) > VALUES_SHOWN else ""
        reversals = f"{entry.reversals} reversal{'' if entry.reversals == 1 else 's'}"
        lines.append(
            f"  {entry.regime}.{entry.parameter}: {more}{values} over {len(entry.sessions)} sessions, "
            f"mean move {number_text(100 * (entry.mean_move or 0.0), '.0f', ' %')}, {reversals}"
        )
    return lines


def alert_text(audit: VersionAudit, outcome: str = "") -> str:
    """The alert of a flagged version: what it did against the version it replaced, what the session
    predicted, and that nothing was rolled back (or ``outcome``, the rollback since, in its place)."""
    finding = audit.underperformance(live_since=True)
    text = f"⚠️ {finding[:1].upper()}{finding[1:]}; {_predicted(audit)}."
    if outcome:
        return _clip(f"{text}\n\n{outcome}", MAX_TEXT)
    return _clip(f"{text} Nothing was rolled back; press Roll back to return to version {audit.replaced}.", MAX_TEXT)


def flagged_line(audit: VersionAudit, live_version: int | None) -> str:
    """One line of the status about a version the latest audit flags."""
    finding = audit.underperformance()
    if audit.version != live_version:
        return f"⚠️ {finding}; no longer live"
    return f"⚠️ {finding}; Roll back under its alert, or /tune rollback {audit.replaced}"


def rollback_note(done: Rollback, actor_name: str) -> str:
    """What a press of Roll back did, for the alert it was pressed under."""
    told = f"\n{done.freqtrade.line}" if done.freqtrade else ""
    return (
        f"↩️ Rolled back by {actor_name}: the live playbook is now version {done.new}, "
        f"the text of version {done.target}.{told}"
    )


def rollback_answer(done: Rollback) -> str:
    """The short answer to a press of Roll back that rolled back."""
    told = f" {done.freqtrade.line}" if done.freqtrade else ""
    return _clip(
        f"Rolled back to version {done.target}: the live playbook is now version {done.new}.{told}", MAX_ANSWER
    )


def rollback_refusal(reason: str, version: int) -> str:
    """The answer to a press of Roll back under the alert of ``version`` that the desk refused for ``reason``
    (no longer live, not flagged by the latest audit, rolled back already)."""
    return _clip(f"Nothing changed on version {version}: {reason}", MAX_ANSWER)


def audit_failure_text(why: str) -> str:
    """The message of an audit that could not run."""
    return _clip(f"❌ The audit failed, nothing was stored: {why}", MAX_TEXT)


def _audit_lines(audit: VersionAudit, live_version: int | None) -> list[str]:
    live = " (live)" if audit.version == live_version else ""
    until = f" until {utc_text(audit.live_until)}" if audit.live_until else ""
    replaced = f", replaced v{audit.replaced}" if audit.replaced is not None else ""
    realised = audit.realised
    trades = f" · {realised.trades} trades" if realised else ""
    lines = [f"v{audit.version}{live}{replaced} · live since {utc_text(audit.live_from)}{until}{trades}"]
    if audit.changes:
        changes = ", ".join(
            f"{change.regime}.{change.parameter} {change_text(change.before, change.after)}"
            for change in audit.changes[:CHANGES_SHOWN]
        )
        more = f" and {len(audit.changes) - CHANGES_SHOWN} more" if len(audit.changes) > CHANGES_SHOWN else ""
        lines.append(f"  changes: {changes}{more}")
    if realised:
        measure = AUDIT_MEASURES.get(realised.kind, realised.kind)
        test = AUDIT_TESTS.get(realised.kind, realised.kind)
        lines.append(
            f"  realised: {measure} {effect_text(realised.effect, realised.interval)}, "
            f"{test} over {realised.clusters} days of trades"
        )
    else:
        lines.append("  realised: –")
    lines.append(f"  predicted: {_predicted_effect(audit)}")
    lines.append(f"  {VERDICT_TEXTS.get(audit.verdict, audit.verdict)}: {audit.note}")
    return lines


def _predicted_effect(audit: VersionAudit) -> str:
    prediction = audit.prediction
    if prediction is None:
        return f"– (not from a tuning session: {_clip(audit.reason or audit.author, MAX_REASON)})"
    if prediction.effect is None:
        return f"– (session {prediction.session_id} judged its changes on different tests)"
    measure = AUDIT_MEASURES.get(prediction.kind, prediction.kind)
    return f"{measure} {effect_text(prediction.effect, prediction.interval)} (session {prediction.session_id})"


def _predicted(audit: VersionAudit) -> str:
    """What the session predicted, in the alert's sentence."""
    prediction = audit.prediction
    if prediction is None:
        return "no tuning session predicted it"
    if prediction.effect is None:
        return (
            f"session {prediction.session_id} predicted no single effect (its changes were judged on different tests)"
        )
    realised = audit.realised
    own = (
        f" on its own test ({AUDIT_MEASURES.get(prediction.kind, prediction.kind)})"
        if realised is not None and prediction.kind != realised.kind
        else ""
    )
    return f"the session predicted {number_text(prediction.effect, '+.4f')}{own}"


def _item_line(rec: RecommendationRecord) -> str:
    return (
        f"{RISK_ICONS.get(rec.risk, '')} {rec.id} {rec.parameter}: {change_text(rec.current, rec.proposed)} "
        f"(confidence {rec.confidence:.0%}){STATUS_MARKS.get(rec.status, '')}"
    )


def _fit(lines: Sequence[str]) -> str:
    return _clip("\n".join(lines), MAX_TEXT)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 2] + " …"
