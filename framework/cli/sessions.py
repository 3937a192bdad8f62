"""Commands on the store: status, history, show, apply, reject, rollback.

Each parses its options, asks :class:`~framework.desk.TuningDesk` (on the store alone) and renders the answer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from framework.cli.common import (
    ConfigOption,
    ExitCode,
    JsonOption,
    StoreOption,
    app,
    check_writable,
    console,
    json_to_stdout,
    say,
    store_path,
    write_json,
)
from framework.cli.render import flagged_lines
from framework.formatting import utc_text

if TYPE_CHECKING:
    from framework.decisions import DecisionOutcome
    from framework.desk import TuningDesk

ActorOption = Annotated[str, typer.Option(help="Who decides (recorded).")]
STATUS_DAYS = 7


@app.command("status")
def status_command(store: StoreOption = None, json_out: JsonOption = None) -> None:
    """Sessions of the last 7 days (id, time, validated changes, status), data quality, the live version, and
    the versions the latest audit flags as worse than the version they replaced."""
    check_writable(json_out, "--json")
    json_to_stdout(json_out)
    from datetime import timedelta

    from rich.table import Table

    from framework.session import Assessment, Session

    status = _desk(store).status(recent=timedelta(days=STATUS_DAYS))
    sessions = [view.session for view in status.recent]
    items = {view.session.id: view.recommendations for view in status.recent}
    latest = status.live_version
    rows = [
        {
            "session_id": s.id,
            "created_at": s.created_at.isoformat(),
            "status": s.status,
            "validated_changes": len(items[s.id]),
            "pending_changes": sum(r.status == "pending" for r in items[s.id]),
            "data_quality": Session.from_record(s).data_quality.score,
        }
        for s in sessions
    ]
    say(f"sessions in the last {STATUS_DAYS} days: {len(sessions)}")
    if sessions:
        table = Table()
        for column in ("session", "time (UTC)", "validated", "pending", "status", "data quality"):
            table.add_column(column, no_wrap=True)
        for session, row in zip(sessions, rows, strict=True):
            quality = row["data_quality"]
            table.add_row(
                session.id,
                utc_text(session.created_at, zone=False),
                str(row["validated_changes"]),
                str(row["pending_changes"]),
                session.status,
                "-" if quality is None else f"{quality:.0f} %",
            )
        console.print(table)
        models = [Assessment.parse(r.payload).model for recs in items.values() for r in recs]
        r2 = [model.r2 for model in models if model is not None and model.r2 is not None]
        if r2:
            say(f"model R2 of the recommendations: mean {sum(r2) / len(r2):.3f}")
    if latest:
        say(f"live playbook: version {latest.version} ({latest.path})")
    for line in flagged_lines(status.flagged, latest.version if latest else None):
        say(line)
    if json_out:
        live = {"version": latest.version, "path": latest.path} if latest else None
        flagged = [audit.model_dump(mode="json") for audit in status.flagged]
        document = {"days": STATUS_DAYS, "sessions": rows, "live_playbook": live, "flagged": flagged}
        write_json(document, json_out, "status")


@app.command("history")
def history_command(store: StoreOption = None, json_out: JsonOption = None) -> None:
    """Every playbook version: who wrote it, when and why."""
    check_writable(json_out, "--json")
    json_to_stdout(json_out)
    from rich.table import Table

    versions = _desk(store).history(limit=None)
    table = Table(title="Playbook versions")
    for column in ("version", "time (UTC)", "author", "reason"):
        table.add_column(column)
    for version in versions:
        table.add_row(str(version.version), utc_text(version.created_at, zone=False), version.author, version.reason)
    console.print(table)
    if json_out:
        document = [
            {
                "version": v.version,
                "parent": v.parent,
                "created_at": v.created_at.isoformat(),
                "author": v.author,
                "reason": v.reason,
                "sha256": v.sha256,
                "path": v.path,
            }
            for v in versions
        ]
        write_json({"versions": document}, json_out, "history")


@app.command("show")
def show_command(
    session: str,
    store: StoreOption = None,
    json_out: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option(help="Write its self-contained HTML report, with the charts tune drew, here.")
    ] = None,
) -> None:
    """A session's recommendations with their status and evidence, and what was rejected."""
    check_writable(json_out, "--json")
    check_writable(report, "--report")
    json_to_stdout(json_out)
    from framework.cli.render import print_session
    from framework.session import Session

    view = _desk(store).view(session)
    record, statuses = view.session, {r.id: r.status for r in view.recommendations}
    contents = Session.from_record(record)
    if report:  # before anything is shown: a session stored without its equity series has no charts
        from framework.report import render_html_report, session_charts

        charts = session_charts(contents)
    say(f"session {record.id}: {record.status}, expires {utc_text(record.expires_at)}")
    print_session(contents, statuses)
    if json_out:
        document: dict[str, Any] = {**contents.document(), "status": record.status, "statuses": statuses}
        write_json(document, json_out, "session")
    if report:
        render_html_report(contents, charts, report)
        say(f"report written to {report}")


@app.command("apply")
def apply_command(
    session: str,
    safe_only: Annotated[
        bool, typer.Option("--safe-only", help="Apply the low-risk changes only (with --items: of those named).")
    ] = False,
    items: Annotated[str | None, typer.Option(help="Apply these recommendation ids (r1,r3).")] = None,
    actor: ActorOption = "cli",
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Apply a session's validated changes: a new playbook version, written atomically; then tell
    freqtrade to reload when the config's [freqtrade] api_url is set.

    Exit status 1 when nothing was applied (stale, expired, already decided, or no low-risk change).
    """
    chosen = _item_ids(items) if items else None
    _finish_decision(_desk(store, config).apply(session, actor, items=chosen, safe_only=safe_only))


@app.command("reject")
def reject_command(
    session: str,
    items: Annotated[str | None, typer.Option(help="Reject these recommendation ids only (r1,r3).")] = None,
    actor: ActorOption = "cli",
    store: StoreOption = None,
) -> None:
    """Reject a session's changes (all, or the items named). Exit status 1 when nothing was rejected."""
    chosen = _item_ids(items) if items else None
    _finish_decision(_desk(store).reject(session, actor, items=chosen))


@app.command("rollback")
def rollback_command(
    version: Annotated[
        int | None,
        typer.Argument(help="Version to return to; default: undo the newest change still in effect."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "rollback from the command line",
    actor: ActorOption = "cli",
    store: StoreOption = None,
    config: ConfigOption = None,
) -> None:
    """Return the live playbook to an earlier version, written as a new version; then tell freqtrade to
    reload when the config's [freqtrade] api_url is set.

    Without VERSION it undoes the newest change still in effect: rolling back again goes further
    back, never forward to a change just undone.
    """
    from framework.decisions import NothingToRollBack

    try:
        done = _desk(store, config).rollback(version, actor, reason)
    except NothingToRollBack as exc:
        say(str(exc))
        raise typer.Exit(ExitCode.REFUSED) from None
    told = f"; {done.freqtrade.line}" if done.freqtrade else ""
    say(f"rolled back to version {done.target}: now version {done.new}{told}")


def _desk(store: Path | None, config: Path | None = None) -> TuningDesk:
    """The desk on the store given (or found), its live playbook the one the store's latest version names;
    with ``config`` (or $PLAYBOOK_TUNER_CONFIG), on those settings instead of the defaults."""
    from framework.config import load_settings
    from framework.desk import TuningDesk

    return TuningDesk.on_store(store_path(store), load_settings(config))


def _item_ids(items: str) -> list[str]:
    return [item.strip() for item in items.split(",") if item.strip()]


def _finish_decision(outcome: DecisionOutcome) -> None:
    say(outcome.message)
    if not outcome.changed:
        raise typer.Exit(ExitCode.REFUSED)
