"""The bot's texts, built by pure functions from stored sessions (plain text, no parse mode).

A session's summary is rendered from the store every time, so it reads the same after a restart and
follows the decisions as they are taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from framework.config import Settings, settings_to_toml
from framework.decisions import DecisionOutcome
from framework.desk import DeskStatus, SessionView
from framework.formatting import (
    RISK_ICONS,
    change_text,
    evidence_lines,
    metric_text,
    number_text,
    p_value_text,
    utc_text,
)
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

HELP = """playbook-tuner: tunes the bot's playbook from its own trades; nothing changes without your approval.

/tune - run a tuning session now: tune, validate out of sample, send the validated changes for approval
/tune status - sessions awaiting a decision, the live playbook version, the next scheduled run
/tune config - the configuration in use
/tune show [session] - a session's summary and buttons again (default: the newest pending)
/tune apply - apply every validated change of the newest pending session
/tune history - the latest playbook versions
/tune rollback [version] - return to an earlier version (default: the one before)
/help - this text

Under a session: Apply All, Safe Only (low-risk changes only), Review (one message per change with its
evidence, to approve or reject each), Reject."""


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


def _item_line(rec: RecommendationRecord) -> str:
    return (
        f"{RISK_ICONS.get(rec.risk, '')} {rec.id} {rec.parameter}: {change_text(rec.current, rec.proposed)} "
        f"(confidence {rec.confidence:.0%}){STATUS_MARKS.get(rec.status, '')}"
    )


def _fit(lines: Sequence[str]) -> str:
    return _clip("\n".join(lines), MAX_TEXT)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 2] + " …"
