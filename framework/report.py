"""Charts (PNG) and the self-contained HTML report of a tuning session.

:func:`equity_chart_png` draws one validated change: the equity of the current playbook and of the
candidate at UTC day ends over the regimes the market was in, and the drawdown of both. Telegram sends
these PNGs as photos; :func:`render_html_report` embeds the same charts as base64 data URIs in one
HTML file with inline CSS and no script, link or font to fetch, so it opens offline.

Charts are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot: no
figure stays registered after a call and no call changes another's style.
"""

from __future__ import annotations

import base64
import html
import io
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

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
from framework.regimes import REGIMES
from framework.session import DataQuality, OwnTrades, Recommendation, Rejection, Session, SessionCharts, Validation

REGIME_COLOURS: dict[str, str] = {
    "trending_up": "#2ca02c4d",
    "trending_down": "#d627284d",
    "ranging": "#8a8a8a2e",
    "volatile": "#ffa00c52",
}
"""Shading of each regime, ``#RRGGBBAA``, usable by matplotlib and CSS alike: four hues apart from each other
and from the two equity lines, each alpha below 0.35 so the lines stay readable over it."""

BASELINE_COLOUR = "#444444"
CANDIDATE_COLOUR = "#1f5fbf"
DPI = 100
MIN_CHART_PX = 200


def equity_figure(comparison: EquityComparison, *, width_px: int = 1000, height_px: int = 600) -> Figure:
    """The chart of :func:`equity_chart_png` as a matplotlib ``Figure`` (Agg canvas), for inspection.

    Top panel: equity of both playbooks over the regime shading; bottom panel: their drawdowns
    (fractions shown as percent, never above 0). Dates on the x axis are UTC.
    """
    if width_px < MIN_CHART_PX or height_px < MIN_CHART_PX:
        raise ValueError(f"a chart needs at least {MIN_CHART_PX} x {MIN_CHART_PX} pixels")
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    equity_axes, drawdown_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    x = mdates.date2num(_utc_naive(comparison.baseline.index))
    lines = [
        (comparison.baseline, BASELINE_COLOUR, "current playbook"),
        (comparison.candidate, CANDIDATE_COLOUR, "with the change"),
    ]
    # A white edge keeps each line readable over any shading; zorder keeps the lines above it and the grid.
    halo = [patheffects.withStroke(linewidth=4.2, foreground="white", alpha=0.9)]
    handles: list[Any] = []
    for series, colour, label in lines:
        values = series.to_numpy(dtype=np.float64)
        (line,) = equity_axes.plot(x, values, color=colour, linewidth=2.0, label=label, zorder=3, path_effects=halo)
        handles.append(line)
        drawdown_axes.plot(x, drawdown(series).to_numpy(), color=colour, linewidth=1.4)
    drawdown_axes.fill_between(
        x, drawdown(comparison.candidate).to_numpy(), 0.0, color=CANDIDATE_COLOUR, alpha=0.12, linewidth=0
    )
    x_range = (float(x[0]), float(x[-1])) if len(x) > 1 else (float(x[0]) - 0.5, float(x[0]) + 0.5)
    shaded = _shade_regimes(equity_axes, comparison.regimes, x_range) if comparison.regimes is not None else []
    equity_axes.set_xlim(*x_range)
    equity_axes.set_ylabel("equity (quote currency)")
    equity_axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    equity_axes.grid(True, color="#dddddd", linewidth=0.6)
    low = min(float(drawdown(s).min()) for s in (comparison.baseline, comparison.candidate))
    drawdown_axes.set_ylim(min(low * 1.1, -0.01), 0.0)
    drawdown_axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    drawdown_axes.set_ylabel("drawdown")
    drawdown_axes.grid(True, color="#dddddd", linewidth=0.6)
    locator = mdates.AutoDateLocator(tz=UTC, maxticks=10)
    drawdown_axes.xaxis.set_major_locator(locator)
    drawdown_axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    drawdown_axes.set_xlabel("date (UTC)")
    figure.suptitle(comparison.title, fontsize=13)
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    if shaded:
        # Its own row above the equity panel, so the two legends never collide on narrow charts.
        swatches = [
            Patch(
                facecolor=REGIME_COLOURS[regime], edgecolor=REGIME_COLOURS[regime][:7], label=regime.replace("_", " ")
            )
            for regime in shaded
        ]
        title = Patch(visible=False, label=f"{comparison.regimes_label}:")
        equity_axes.legend(
            handles=[title, *swatches], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(swatches) + 1,
            frameon=False, handlelength=1.6, columnspacing=1.4, borderaxespad=0.2,
        )  # fmt: skip
    return figure


def equity_chart_png(comparison: EquityComparison, *, width_px: int = 1000, height_px: int = 600) -> bytes:
    """PNG bytes (``width_px`` x ``height_px``) of the equity and drawdown chart of ``comparison``."""
    buffer = io.BytesIO()
    equity_figure(comparison, width_px=width_px, height_px=height_px).savefig(
        buffer, format="png", dpi=DPI, metadata={"Software": None}
    )
    return buffer.getvalue()


def _utc_naive(index: pd.DatetimeIndex) -> np.ndarray:
    """datetime64[ns] values of ``index`` in UTC without a zone (naive input is taken as UTC)."""
    utc = index.tz_convert("UTC") if index.tz is not None else index
    return utc.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _shade_regimes(axes: Any, regimes: pd.Series, x_range: tuple[float, float]) -> list[str]:
    """Shade each run of equal consecutive labels from its first timestamp to the next run's.

    The last run lasts one typical step (the median gap between labels). Runs are clipped to
    ``x_range`` (matplotlib date numbers); returns the regimes drawn, in :data:`REGIMES` order.
    """
    labels = regimes[~regimes.index.isna()].sort_index()
    if labels.empty:
        return []
    times = mdates.date2num(_utc_naive(pd.DatetimeIndex(labels.index)))
    codes = pd.Categorical(labels.astype(object), categories=list(REGIMES)).codes
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    ends = np.append(times[starts[1:]], times[-1] + step)
    drawn = []
    for code, regime in enumerate(REGIMES):
        run_starts = times[starts][codes[starts] == code]
        run_ends = ends[codes[starts] == code]
        left = np.maximum(run_starts, x_range[0])
        right = np.minimum(run_ends, x_range[1])
        keep = right > left
        if not keep.any():
            continue
        spans = list(zip(left[keep], (right - left)[keep], strict=True))
        axes.broken_barh(
            spans, (0, 1), transform=axes.get_xaxis_transform(), facecolors=REGIME_COLOURS[regime],
            edgecolors="none", zorder=0, label=regime,
        )  # fmt: skip
        drawn.append(regime)
    return drawn


@dataclass(frozen=True, eq=False)
class EquityComparison:
    """One change's equity before and after, for a chart.

    ``baseline`` and ``candidate`` are equity in quote currency at UTC day ends on the same
    DatetimeIndex (naive times are taken as UTC), as the columns of
    ``replay_candidates(..., equity=True).equity``. ``regimes`` is an optional regime label (a name
    of :data:`framework.regimes.REGIMES`, or NA) per timestamp of any frequency, for shading; each
    label holds until the next timestamp; ``regimes_label`` says what they are, in the legend.
    ``ValueError`` on mismatched or non-finite input.
    """

    title: str
    baseline: pd.Series
    candidate: pd.Series
    regimes: pd.Series | None = None
    regimes_label: str = "regime"

    def __post_init__(self) -> None:
        for name in ("baseline", "candidate"):
            series = getattr(self, name)
            if not isinstance(series.index, pd.DatetimeIndex):
                raise ValueError(f"EquityComparison.{name} must be indexed by time (a DatetimeIndex)")
            if len(series) == 0:
                raise ValueError(f"EquityComparison.{name} is empty")
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isfinite(values).all() or (values < 0).any() or values[0] <= 0:
                raise ValueError(f"EquityComparison.{name} must be finite, >= 0 and start above 0")
        if not self.baseline.index.equals(self.candidate.index):
            raise ValueError("EquityComparison.baseline and .candidate must share one index")
        if not self.baseline.index.is_monotonic_increasing:
            raise ValueError("EquityComparison equity must be in time order")
        if self.regimes is not None:
            if not isinstance(self.regimes.index, pd.DatetimeIndex):
                raise ValueError("EquityComparison.regimes must be indexed by time (a DatetimeIndex)")
            labels = self.regimes.dropna().astype(str)
            unknown = sorted(set(labels) - set(REGIMES))
            if unknown:
                raise ValueError(f"EquityComparison.regimes has labels outside {list(REGIMES)}: {unknown}")


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown of ``equity`` from its running peak: a fraction, 0 at a peak and negative below it."""
    values = equity.to_numpy(dtype=np.float64)
    return pd.Series(values / np.maximum.accumulate(values) - 1.0, index=equity.index, name="drawdown")


def session_charts(session: Session) -> list[EquityComparison]:
    """One out-of-sample before/after comparison per validated change of ``session``, in its order, shaded
    by the regime most trades entered in each day (:func:`framework.pipeline.daily_regimes`).

    ``PlaybookTunerError`` when the session was stored without its equity series (by a playbook-tuner
    older than them): a new tune draws them.
    """
    charts = session.charts or SessionCharts()
    missing = [rec.id for rec in session.recommendations if charts.equity_of(rec.id) is None]
    if missing:
        raise PlaybookTunerError(
            f"session {session.session_id} was stored without the equity series of {', '.join(missing)} "
            "(by an older playbook-tuner), so its charts cannot be drawn; run tune again for a session with them"
        )
    regimes = pd.Series(
        list(charts.regimes), index=pd.to_datetime(list(charts.regime_days), utc=True), dtype=object, name="regime"
    )
    comparisons = []
    for rec in session.recommendations:
        series = charts.equity_of(rec.id)
        assert series is not None
        index = pd.to_datetime(list(series.days), utc=True)
        title = f"{rec.regime}.{rec.parameter} {value_text(rec.current)} -> {value_text(rec.proposed)} (out of sample)"
        baseline, candidate = (pd.Series(values, index=index) for values in (series.baseline, series.candidate))
        comparisons.append(EquityComparison(title, baseline, candidate, regimes, "regime of most trades that day"))
    return comparisons


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
