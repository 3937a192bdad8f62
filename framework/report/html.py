"""The self-contained HTML report of a tuning session.

:func:`render_html_report` embeds the charts of :mod:`framework.report.charts` as base64 data URIs in
one HTML file with inline CSS and no script, link or font to fetch, so it opens offline.
"""

from __future__ import annotations

import base64
import html
import shlex
from collections.abc import Sequence
from pathlib import Path

from framework.approval import SAFE_RISK
from framework.errors import PlaybookTunerError
from framework.formatting import (
    MISSING,
    RISK_ICONS,
    change_text,
    evidence_lines,
    metric_text,
    number_text,
    p_value_text,
    utc_text,
    value_text,
)
from framework.livefile import write_atomically
from framework.report.charts import equity_chart_png
from framework.report.data import EquityComparison
from framework.session import DataQuality, OwnTrades, Recommendation, Rejection, Session, Validation


def render_html_report(session: Session, charts: Sequence[EquityComparison], path: Path) -> None:
    """Write the report of one tuning session to ``path`` as one self-contained HTML file.

    ``charts[i]`` is the chart of ``session.recommendations[i]`` (:func:`framework.report.session_charts`).
    Each change shows the ``playbook-tuner apply`` command that applies it alone; the parts an older
    session lacks (rationale, own trades, evidence) are left out.

    Every text is HTML-escaped; the file is replaced atomically. ``ValueError`` when the charts do not
    pair with the recommendations; ``PlaybookTunerError`` when the folder of ``path`` does not exist.
    """
    if len(charts) != len(session.recommendations):
        raise ValueError(
            f"got {len(charts)} charts for {len(session.recommendations)} recommendations; "
            "pass one chart per recommendation, in the same order"
        )
    if not path.parent.is_dir():
        raise PlaybookTunerError(f"cannot write the report to {path}: its folder does not exist")
    write_atomically(path, _page(session, charts))


_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1d2330;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d9dce3; }
h3 { font-size: 16px; margin: 0 0 10px; }
.meta { color: #525a6b; margin: 0; }
.meta code { font-size: 14px; }
.card { background: #fff; border: 1px solid #dde0e6; border-radius: 8px; padding: 16px 18px;
  margin: 12px 0; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: 6px 8px; border-bottom: 1px solid #e6e8ed; text-align: left; vertical-align: top; }
th { background: #eef0f4; font-weight: 600; white-space: nowrap; }
caption { caption-side: top; text-align: left; color: #525a6b; padding: 0 0 4px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.wide { width: 100%; font-size: 14px; }
.scroll { overflow-x: auto; }
.nowrap { white-space: nowrap; }
.score { font-size: 30px; font-weight: 700; margin-right: 16px; }
.quality { display: flex; align-items: center; flex-wrap: wrap; gap: 8px 24px; }
.bar { display: inline-block; width: 140px; height: 9px; background: #e6e8ed; border-radius: 5px;
  vertical-align: middle; margin-left: 8px; overflow: hidden; }
.bar span { display: block; height: 100%; background: #1f5fbf; }
.risk { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 13px; font-weight: 600;
  white-space: nowrap; }
.risk-low { background: #d9f2df; color: #14532d; }
.risk-medium { background: #fcefc7; color: #713f12; }
.risk-high { background: #fbdcd9; color: #7f1d1d; }
code.command { display: inline-block; background: #f1f3f7; border: 1px solid #dde0e6; border-radius: 4px;
  padding: 2px 6px; font-size: 14px; user-select: all; }
.commands { margin: 0; padding-left: 20px; }
.commands li { margin: 6px 0; }
.why { margin: 0 0 8px; }
.apply { margin: 0 0 12px; }
.yes { color: #1b7a2f; font-weight: 600; }
.no { color: #b42318; font-weight: 600; }
.evidence { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.evidence figure { flex: 1 1 600px; margin: 0; min-width: 0; }
.evidence img { width: 100%; height: auto; border: 1px solid #e6e8ed; border-radius: 4px; }
.evidence .tables { flex: 0 0 auto; display: flex; flex-direction: column; gap: 14px; font-size: 14px; }
footer { margin-top: 36px; color: #6b7280; font-size: 13px; }
"""


def _page(session: Session, charts: Sequence[EquityComparison]) -> str:
    title = f"Tuning session {session.session_id}"
    body = [
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">session <code>{_e(session.session_id)}</code> · created '
        f"{_e(utc_text(session.created_at))} · expires {_e(utc_text(session.expires_at))} · "
        f"{session.trades_analyzed:,} trades analysed</p>",
        "</header>",
        _quality_section(session.data_quality),
        _recommendations_section(session.recommendations),
        _apply_section(session),
        *(
            _evidence(rec, chart, session.session_id)
            for rec, chart in zip(session.recommendations, charts, strict=True)
        ),
        _rejections_section(session.rejected),
        "<footer>Times are UTC. Out-of-sample metrics come from replaying the logged trades under each "
        "playbook; p-value and DSR (deflated Sharpe ratio, corrected for the trials tried) are the "
        "validation gate's.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def _quality_section(quality: DataQuality) -> str:
    parts = "".join(
        f"<tr><td>{_e(name.replace('_', ' '))}</td><td class=num>{value:.0f} %"
        f'<span class="bar"><span style="width: {min(max(value, 0.0), 100.0):.1f}%"></span></span>'
        "</td></tr>"
        for name, value in quality.parts.items()
    )
    return (
        '<section><h2>Data quality</h2><div class="card quality">'
        f'<div><span class="score">{_e(number_text(quality.score, ".0f", " %"))}</span>mean of its parts</div>'
        f"<table>{parts}</table></div></section>"
    )


def _recommendations_section(recommendations: Sequence[Recommendation]) -> str:
    if not recommendations:
        return "<section><h2>Recommendations</h2><p>No change passed validation.</p></section>"
    headers = ["id", "block", "parameter", "change", "change %", "risk", "confidence", "tuner"]
    headers += ["p-value", "DSR", "trials", "model R² / MAE", "validated"]
    numeric = {"change %", "confidence", "p-value", "DSR", "trials"}
    head = "".join(f'<th class="num">{h}</th>' if h in numeric else f"<th>{_e(h)}</th>" for h in headers)
    rows = []
    for rec in recommendations:
        check = rec.validation
        model = f"{number_text(rec.model.r2, '.2f')} / {number_text(rec.model.mae, '.4f')}" if rec.model else "–"
        accepted = MISSING
        if check is not None and check.accepted is not None:
            accepted = '<span class="yes">yes</span>' if check.accepted else '<span class="no">no</span>'
        cells = [
            f'<td><a href="#rec-{_anchor(rec.id)}">{_e(rec.id)}</a></td>',
            f"<td>{_e(rec.regime)}</td>",
            f"<td>{_e(rec.parameter)}</td>",
            f'<td class="nowrap">{_e(value_text(rec.current))} → {_e(value_text(rec.proposed))}</td>',
            f'<td class="num">{_e(number_text(rec.change_pct, "+.1f", " %"))}</td>',
            f"<td>{_risk(rec.risk)}</td>",
            f'<td class="num">{rec.confidence:.0%}</td>',
            f"<td>{_e(rec.tuner or MISSING)}</td>",
            f'<td class="num">{_e(p_value_text(check.p_value if check else None))}</td>',
            f'<td class="num">{_e(number_text(check.dsr if check else None, ".2f"))}</td>',
            f'<td class="num">{_e(number_text(check.n_trials if check else None, "d"))}</td>',
            f"<td>{_e(model)}</td>",
            f"<td>{accepted}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<section><h2>Recommendations ({len(recommendations)})</h2>"
        f'<div class="scroll"><table class="wide"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _apply_section(session: Session) -> str:
    if not session.recommendations:
        return ""
    sid = session.session_id
    safe = [rec.id for rec in session.recommendations if rec.risk == SAFE_RISK]
    commands = [("every change above", _command("apply", sid))]
    if safe:
        commands.append((f"only the low-risk changes ({', '.join(safe)})", _command("apply", sid, "--safe-only")))
    commands.append(("none of them", _command("reject", sid)))
    items = "".join(f'<li>{_e(what)}: <code class="command">{_e(command)}</code></li>' for what, command in commands)
    return (
        '<section><h2>Apply</h2><div class="card">'
        f"<p>Nothing is applied until you run one of these, before {_e(utc_text(session.expires_at))}:</p>"
        f'<ul class="commands">{items}<li>one change: the command under it below</li></ul></div></section>'
    )


def _evidence(rec: Recommendation, chart: EquityComparison, session_id: str) -> str:
    image = base64.b64encode(equity_chart_png(chart)).decode("ascii")
    heading = f"{rec.id}: {rec.regime} {rec.parameter} {value_text(rec.current)} → {value_text(rec.proposed)}"
    rationale = f'<p class="why"><strong>Why:</strong> {_e(rec.rationale)}</p>' if rec.rationale else ""
    own = rec.validation.own_trades if rec.validation else None
    return (
        f'<section class="card" id="rec-{_anchor(rec.id)}"><h3>{_e(heading)} {_risk(rec.risk, " risk")}</h3>'
        f"{rationale}"
        f'<p class="apply">Apply this change alone: '
        f'<code class="command">{_e(_command("apply", session_id, "--items", rec.id))}</code></p>'
        f'<div class="evidence"><figure><img src="data:image/png;base64,{image}" '
        f'width="1000" height="600" alt="{_e(chart.title)}"></figure>'
        f'<div class="tables">{_metrics_table(rec.validation)}{_own_trades_table(own) if own else ""}</div>'
        f"</div>{_evidence_list(rec.validation)}</section>"
    )


def _evidence_list(check: Validation | None) -> str:
    lines = evidence_lines(check.evidence) if check else []
    if not lines:
        return ""
    items = "".join(f"<li>{_e(line)}</li>" for line in lines)
    return f'<div class="gate"><h4>Out-of-sample evidence</h4><ul>{items}</ul></div>'


def _metrics_table(check: Validation | None) -> str:
    if check is None:
        return "<p>No validation evidence.</p>"
    names = list(dict.fromkeys([*check.baseline, *check.candidate]))
    rows = "".join(
        f"<tr><td>{_e(name.replace('_', ' '))}</td>"
        f'<td class="num">{_e(metric_text(name, check.baseline.get(name)))}</td>'
        f'<td class="num">{_e(metric_text(name, check.candidate.get(name)))}</td></tr>'
        for name in names
    )
    return (
        '<table><thead><tr><th>portfolio, out of sample</th><th class="num">current</th>'
        f'<th class="num">with change</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _own_trades_table(own: OwnTrades) -> str:
    sides = (own.baseline, own.candidate)
    rows = [
        ("trades taken", [f"{side.taken:,}" for side in sides]),
        ("win rate", [metric_text("win_rate", side.win_rate) for side in sides]),
        (
            "mean return per trade (on margin)",
            [number_text(_percent(side.mean_return), "+.2f", " %") for side in sides],
        ),
        ("pnl (quote currency)", [number_text(side.pnl, "+,.2f") for side in sides]),
    ]
    body = "".join(
        f'<tr><td>{_e(name)}</td><td class="num">{_e(before)}</td><td class="num">{_e(after)}</td></tr>'
        for name, (before, after) in rows
    )
    return (
        f"<table><caption>{_e(own.scope)}: {own.trades:,} out of sample</caption>"
        '<thead><tr><th>its own trades</th><th class="num">current</th><th class="num">with change</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _rejections_section(rejected: Sequence[Rejection]) -> str:
    if not rejected:
        return "<section><h2>Rejected proposals</h2><p>None.</p></section>"
    rows = "".join(
        f"<tr><td>{_e(r.regime or MISSING)}</td><td>{_e(r.parameter or MISSING)}</td><td>{_e(r.tuner or MISSING)}</td>"
        f"<td>{_e(change_text(r.current, r.proposed))}</td><td>{_e(r.reason or MISSING)}</td></tr>"
        for r in rejected
    )
    return (
        f"<section><h2>Rejected proposals ({len(rejected)})</h2>"
        '<div class="scroll"><table class="wide"><thead><tr><th>block</th><th>parameter</th>'
        f"<th>tuner</th><th>change</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table></div>"
        "</section>"
    )


# --- formatting --------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _risk(risk: str, suffix: str = "") -> str:
    """The risk class as a coloured word, the icon after it for those whose fonts draw it."""
    icon = f'<span aria-hidden="true">{RISK_ICONS[risk]}</span>'
    return f'<span class="risk risk-{_e(risk)}">{_e(risk + suffix)}</span> {icon}'


def _command(*words: str) -> str:
    """A ``playbook-tuner`` command line, each word quoted for a POSIX shell where it needs it."""
    return shlex.join(["playbook-tuner", *words])


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def _anchor(identifier: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in identifier)
