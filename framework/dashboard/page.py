"""The dashboard's HTML page from :class:`~framework.dashboard.data.DashboardData`.

The page is the same served or exported; only where plotly.js comes from differs: the server hands it
out at :data:`PLOTLY_PATH`, an export inlines it (one self-contained file, nothing fetched). Each
chart is a plotly figure's JSON drawn with ``responsive: true``; beside the charts, plain tables and
numbers carry ``data-testid`` attributes so a person (or a browser test) can read the figures exactly.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import cache

import plotly.graph_objects as go

from framework.dashboard import figures
from framework.dashboard.data import NO_DATA_HINT, DashboardData, SessionRow
from framework.formatting import MISSING, number_text, utc_text, value_text

PLOTLY_PATH = "plotly.min.js"
"""Where the served page loads plotly.js from (relative to the page)."""

_STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212121;
       background: #eceff1; }
header { padding: 16px 20px 8px; }
header h1 { margin: 0 0 4px; font-size: 1.4rem; }
header p { margin: 0; color: #546e7a; font-size: .9rem; overflow-wrap: anywhere; }
main { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; padding: 8px 20px 24px; }
section { background: #fff; border-radius: 8px; padding: 14px 16px; min-width: 0;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
section.wide { grid-column: 1 / -1; }
section h2 { margin: 0 0 8px; font-size: 1.1rem; }
section h3 { margin: 12px 0 6px; font-size: .95rem; }
.numbers { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; }
.number { background: #f5f7f8; border-radius: 6px; padding: 8px 10px; }
.number b { display: block; font-size: 1.35rem; }
.number span { color: #546e7a; font-size: .82rem; }
.chart { width: 100%; min-height: 120px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: 12px; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .85rem; margin: 4px 0 8px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff1; white-space: nowrap; }
td:first-child { white-space: normal; min-width: 8em; overflow-wrap: break-word; }
td.prose { white-space: normal; min-width: 14em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #546e7a; font-size: .88rem; }
.empty { font-size: 1rem; }
code { background: #f5f7f8; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.verdict-worse { color: #c62828; font-weight: 600; }
.verdict-better { color: #2e7d32; font-weight: 600; }
@media (max-width: 700px) {
  main { grid-template-columns: minmax(0, 1fr); padding: 8px 10px 16px; gap: 10px; }
  header { padding: 12px 12px 4px; }
  section { padding: 10px; }
}
"""

_DRAW = """
document.querySelectorAll("script[data-figure]").forEach(function (source) {
  var figure = JSON.parse(source.textContent);
  var target = document.getElementById(source.dataset.figure);
  var narrow = window.matchMedia("(max-width: 700px)").matches;
  Plotly.newPlot(target, figure.data, figure.layout,
                 {responsive: true, displaylogo: false, displayModeBar: narrow ? false : "hover"});
});
"""


@cache
def plotly_js() -> str:
    """plotly.js itself, as the installed plotly package ships it."""
    from plotly.offline import get_plotlyjs

    script: str = get_plotlyjs()
    return script


def render_page(data: DashboardData, *, inline_plotly: bool) -> str:
    """The whole page. ``inline_plotly``: plotly.js inside the page (an export, for file:// and no network);
    otherwise loaded from :data:`PLOTLY_PATH` beside the page."""
    charts = _Charts()
    body = _empty() if data.empty else "\n".join(_sections(data, charts))
    live = "none" if data.live_version is None else str(data.live_version)
    # inlined as plotly's own write_html inlines it (plotly.js holds no "</script")
    loader = f"<script>{plotly_js()}</script>" if inline_plotly else f'<script src="{PLOTLY_PATH}"></script>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>playbook-tuner dashboard</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>playbook-tuner dashboard</h1>
<p>store <code data-testid="store-path">{_e(str(data.store))}</code> · read {_e(utc_text(data.generated_at))} ·
live playbook version <b data-testid="live-version">{_e(live)}</b></p>
</header>
<main>
{body}
</main>
{loader if charts.figures else ""}
{charts.scripts()}
{"<script>" + _DRAW + "</script>" if charts.figures else ""}
</body>
</html>
"""


class _Charts:
    """The figures of a page, each a ``<div>`` where it goes and its JSON in a ``<script>`` at the end."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, str]] = []

    def add(self, name: str, figure: go.Figure) -> str:
        div = f"chart-{name}"
        self.figures.append((div, figure.to_json()))
        return f'<div class="chart" id="{div}" data-testid="{div}"></div>'

    def scripts(self) -> str:
        return "\n".join(
            f'<script type="application/json" data-figure="{div}">{_json_in_script(text)}</script>'
            for div, text in self.figures
        )


def _json_in_script(text: str) -> str:
    """JSON safe inside a ``<script>`` element: every ``<`` (only ever inside a JSON string) as ``\\u003c``,
    so no ``</script>`` or ``<!--`` a stored text holds can end the element."""
    return text.replace("<", "\\u003c")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _empty() -> str:
    return f"""<section class="wide empty" data-testid="empty-store">
<h2>Nothing to show yet</h2>
<p>This store holds no playbook version, no tuning session and no audit.</p>
<p>To get data, {_hint()}, then reload this page.</p>
</section>"""


def _hint() -> str:
    """:data:`NO_DATA_HINT` with its command as code."""
    return _e(NO_DATA_HINT).replace("`playbook-tuner tune`", "<code>playbook-tuner tune</code>")


def _sections(data: DashboardData, charts: _Charts) -> Iterable[str]:
    yield _summary(data)
    yield _versions(data, charts)
    yield _sessions(data, charts)
    yield _models(data, charts)
    yield _quality(data, charts)
    yield _audit(data, charts)
    yield _equity(data, charts)


def _number(testid: str, value: str, label: str) -> str:
    return f'<div class="number"><b data-testid="{testid}">{_e(value)}</b><span>{_e(label)}</span></div>'


def _effect(value: float | None) -> str:
    """An effect per trade (a fraction of growth or return) as percent with three decimals."""
    return number_text(None if value is None else 100 * value, "+.3f", " %")


def _percent(value: float | None) -> str:
    return number_text(None if value is None else 100 * value, ".1f", " %")


def _summary(data: DashboardData) -> str:
    accuracy = data.audit.report.accuracy if data.audit else None
    numbers = [
        _number("version-count", str(len(data.versions)), "playbook versions"),
        _number("session-count", str(len(data.sessions)), "tuning sessions"),
        _number("validated-total", str(data.validated), "validated changes"),
        _number("rejected-total", str(data.rejected), "rejected proposals"),
        _number("acceptance-rate", _percent(data.acceptance), "acceptance rate"),
        _number("audit-accuracy", _percent(accuracy.share_better) if accuracy else MISSING, "versions better (audit)"),
        _number("audit-flagged", str(len(data.audit.report.flagged())) if data.audit else MISSING, "flagged worse"),
    ]
    cards = "".join(numbers)
    return f'<section class="wide" data-testid="summary"><h2>Overview</h2><div class="numbers">{cards}</div></section>'


def _table(
    testid: str,
    head: Sequence[str],
    rows: Iterable[Sequence[tuple[str, str | None]]],
    numeric: set[int],
    prose: frozenset[int] = frozenset(),
) -> str:
    """A table; each cell is (text, its data-testid or None); columns in ``numeric`` are right-aligned, those
    in ``prose`` (sentences) wrap."""

    def kind(i: int) -> str:
        return " class=num" if i in numeric else (" class=prose" if i in prose else "")

    header = "".join(f"<th{kind(i)}>{_e(h)}</th>" for i, h in enumerate(head))
    lines = []
    for row in rows:
        cells = []
        for i, (text, cell_id) in enumerate(row):
            attributes = kind(i) + (f' data-testid="{_e(cell_id)}"' if cell_id else "")
            cells.append(f"<td{attributes}>{_e(text)}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    table = f'<table data-testid="{testid}"><thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'


def _nothing(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _versions(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Playbook versions</h2>"]
    changed = [s for s in data.parameters if s.changed]
    if changed:
        changed_keys = {s.parameter for s in changed}
        shown = [s for s in data.parameters if s.parameter in changed_keys]
        parts.append(charts.add("versions", figures.parameter_timeline(shown, data.latest)))
        parts.append(
            '<p class="note">Each parameter that any version changed, per regime, as a step line over the times the '
            "versions went live (durations in hours). The ROI table is not drawn; its scale is "
            "<code>minimal_roi_scale</code>.</p>"
        )
    elif data.versions:
        parts.append(_nothing("No version changed a parameter yet: the values below are the playbook's."))
    else:
        parts.append(_nothing("No playbook version yet."))
    unreadable = [row.version for row in data.versions if not row.readable]
    if unreadable:
        parts.append(_nothing(f"Not a valid playbook (not drawn): version {', '.join(map(str, unreadable))}."))
    rows = [
        [
            (str(row.version), None),
            (utc_text(row.created_at, zone=False), None),
            (row.author, None),
            (row.reason, None),
        ]
        for row in reversed(data.versions)
    ]
    if rows:
        parts.append("<h3>Versions (newest first)</h3>")
        parts.append(
            _table("versions-table", ("version", "live from (UTC)", "author", "reason"), rows, {0}, frozenset({3}))
        )
    unchanged = [s for s in data.parameters if not s.changed and s.parameter not in {c.parameter for c in changed}]
    if unchanged:
        regimes = list(dict.fromkeys(s.regime for s in unchanged))
        names = list(dict.fromkeys((s.parameter, s.unit) for s in unchanged))
        value = {(s.regime, s.parameter): s.values[-1] for s in unchanged}
        table_rows = [
            [(f"{name} ({unit})", None), *((_cell(value, r, name), None) for r in regimes)] for name, unit in names
        ]
        parts.append("<h3>Values no version changed</h3>")
        parts.append('<p class="note">An empty cell: as the default block.</p>')
        parts.append(_table("unchanged-table", ("parameter", *regimes), table_rows, set(range(1, len(regimes) + 1))))
    return f'<section class="wide" data-testid="versions">{"".join(parts)}</section>'


def _cell(values: dict[tuple[str, str], float | None], regime: str, name: str) -> str:
    if (regime, name) not in values:
        return ""
    value = values[(regime, name)]
    return "none" if value is None else f"{value:.6g}"


def _session_row(row: SessionRow) -> list[tuple[str, str | None]]:
    decided = ", ".join(f"{status} {count}" for status, count in sorted(row.decisions.items())) or MISSING
    return [
        (row.id, f"session-id-{row.id}"),
        (utc_text(row.created_at, zone=False), None),
        (str(row.playbook_version), None),
        (str(row.validated), f"session-validated-{row.id}"),
        (str(row.rejected), f"session-rejected-{row.id}"),
        (_percent(row.acceptance), f"session-acceptance-{row.id}"),
        (decided, f"session-decisions-{row.id}"),
        (row.status, f"session-status-{row.id}"),
        (str(row.trades_analyzed), None),
    ]


def _sessions(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Tuning sessions</h2>"]
    if not data.sessions:
        parts.append(f'<p class="note">No tuning session yet: {_hint()}.</p>')
    else:
        parts.append(charts.add("sessions", figures.session_counts(data.sessions)))
        head = (
            "session",
            "time (UTC)",
            "on version",
            "validated",
            "rejected",
            "acceptance",
            "decisions",
            "status",
            "trades",
        )
        rows = [_session_row(row) for row in reversed(data.sessions)]
        parts.append(_table("sessions-table", head, rows, {2, 3, 4, 5, 8}))
        headlines = [row for row in data.sessions[-3:] if row.headline]
        for row in headlines:
            parts.append(f'<p class="note">{_e(row.id)}: {_e(row.headline or "")}</p>')
    return f'<section class="wide" data-testid="sessions">{"".join(parts)}</section>'


def _models(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Model quality and confidence</h2>"]
    if not data.models:
        parts.append(_nothing("No model metrics stored yet (sessions record each tuner's R2 and MAE)."))
    else:
        parts.append(charts.add("models", figures.model_quality(data.models)))
        parts.append(
            '<p class="note">Filled: validated changes; open: rejected proposals. R2 and MAE are cross-validated '
            "on purged walk-forward folds.</p>"
        )
        r2 = [p.r2 for p in data.models if p.r2 is not None]
        confidence = [p.confidence for p in data.models if p.confidence is not None]
        parts.append(
            '<div class="numbers">'
            + _number("model-r2-mean", number_text(sum(r2) / len(r2) if r2 else None, ".3f"), "mean model R2")
            + _number(
                "confidence-mean",
                _percent(sum(confidence) / len(confidence) if confidence else None),
                "mean confidence",
            )
            + "</div>"
        )
    return f'<section data-testid="models">{"".join(parts)}</section>'


def _quality(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Data quality</h2>"]
    rated = [s for s in data.sessions if s.data_quality is not None]
    if not rated:
        parts.append(_nothing("No data quality score stored yet (each tuning session scores its data)."))
    else:
        parts.append(charts.add("quality", figures.data_quality(rated)))
        latest = rated[-1]
        parts.append(
            '<div class="numbers">'
            + _number("data-quality-latest", number_text(latest.data_quality, ".0f", " %"), "latest score")
            + "".join(
                _number(f"data-quality-{name}", number_text(value, ".0f", " %"), name)
                for name, value in latest.quality_parts.items()
            )
            + "</div>"
        )
    return f'<section data-testid="quality">{"".join(parts)}</section>'


def _audit(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Post-apply audit</h2>"]
    audit = data.audit
    if audit is None:
        parts.append(
            _nothing(
                "No audit stored yet. An audit replays the trades made while each applied version was live under "
                "the version it replaced, and stores what it found."
            )
        )
        return f'<section class="wide" data-testid="audit">{"".join(parts)}</section>'
    report = audit.report
    accuracy = report.accuracy
    parts.append(
        f'<p class="note">Latest of {audit.audits} audit(s), run {_e(utc_text(report.audited_at))}; '
        f"one-sided tests at {report.alpha:g}, at least {report.min_trades} trades to judge.</p>"
    )
    parts.append(
        '<div class="numbers">'
        + _number("accuracy-share", _percent(accuracy.share_better), "judged versions better")
        + _number("accuracy-judged", str(accuracy.judged), "judged")
        + _number("accuracy-better", str(accuracy.better), "better")
        + _number("accuracy-worse", str(accuracy.worse), "worse")
        + _number("accuracy-no-better", str(accuracy.no_better), "no better")
        + _number("accuracy-young", str(accuracy.young), "too young")
        + _number("accuracy-unaudited", str(accuracy.unaudited), "unaudited")
        + "</div>"
    )
    plotted = '<div class="charts">'
    if audit.predicted_vs_realised:
        plotted += "<div><h3>Predicted vs realised effect per version</h3>"
        plotted += charts.add("predicted-realised", figures.predicted_vs_realised(audit)) + "</div>"
    else:
        plotted += "<div>" + _nothing("No version has both a predicted and a realised effect yet.") + "</div>"
    if audit.learning:
        plotted += "<div><h3>Learning curve</h3>"
        plotted += charts.add("learning", figures.learning_curve(audit.learning)) + "</div>"
    else:
        plotted += "<div>" + _nothing("No version judged yet: no learning curve.") + "</div>"
    parts.append(plotted + "</div>")
    rows = []
    for version in sorted(report.versions, key=lambda v: v.version, reverse=True):
        realised = version.realised
        prediction = version.prediction
        rows.append(
            [
                (str(version.version), None),
                (version.verdict.replace("_", " "), f"verdict-{version.version}"),
                (utc_text(version.live_from, zone=False), None),
                (_effect(prediction.effect if prediction else None), f"predicted-{version.version}"),
                (_effect(realised.effect if realised else None), f"realised-{version.version}"),
                (str(realised.trades) if realised else MISSING, None),
                (version.note, None),
            ]
        )
    parts.append("<h3>Versions audited</h3>")
    parts.append(
        _table(
            "audit-table",
            ("version", "verdict", "live from (UTC)", "predicted / trade", "realised / trade", "trades", "note"),
            rows,
            {0, 3, 4, 5},
            frozenset({6}),
        )
    )
    if audit.stability:
        stability_rows = [
            [
                (f"{s.regime}.{s.parameter}", None),
                (str(len(s.sessions)), None),
                (" → ".join(value_text(v) for v in s.values[-6:]), None),
                (_percent(s.mean_move), None),
                (str(s.reversals), f"reversals-{s.regime}.{s.parameter}"),
            ]
            for s in audit.stability
        ]
        parts.append("<h3>Parameter stability (recommended values across sessions)</h3>")
        parts.append(
            _table(
                "stability-table",
                ("parameter", "sessions", "values (latest last)", "mean move", "reversals"),
                stability_rows,
                {1, 3, 4},
            )
        )
    return f'<section class="wide" data-testid="audit">{"".join(parts)}</section>'


def _equity(data: DashboardData, charts: _Charts) -> str:
    parts = ["<h2>Equity before and after (recent sessions)</h2>"]
    if not data.equity:
        parts.append(_nothing("No validated change with stored equity in the recent sessions."))
    else:
        parts.append(
            '<p class="note">Each validated change of the last sessions, out of sample: the account under the '
            "current playbook and with the change, at UTC day ends.</p>"
        )
        parts.append('<div class="charts">')
        for index, chart in enumerate(reversed(data.equity)):
            label = f"{chart.session_id} · {utc_text(chart.created_at)}"
            parts.append(
                f'<div><p class="note">{_e(label)}</p>{charts.add(f"equity-{index}", figures.equity(chart))}</div>'
            )
        parts.append("</div>")
    return f'<section class="wide" data-testid="equity">{"".join(parts)}</section>'
