"""The dashboard's plotly figures, one function per chart, drawn from :mod:`framework.dashboard.data`.

Every figure has a fixed height and a compact layout (legend under the plot, small margins) so it
reads on a laptop and on a phone; the page draws them with ``responsive: true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from framework.dashboard.data import AuditView, EquityChart, LearningPoint, ModelPoint, ParameterSeries, SessionRow
from framework.formatting import value_text

VERDICT_COLOURS = {
    "better": "#2e7d32",
    "worse": "#c62828",
    "no_better": "#f9a825",
    "young": "#1565c0",
    "unaudited": "#757575",
}
REGIME_COLOURS = {
    "default": "#455a64",
    "trending_up": "#2e7d32",
    "trending_down": "#c62828",
    "ranging": "#1565c0",
    "volatile": "#ef6c00",
    "strategy_weights": "#6a1b9a",
}
_OTHER_COLOURS = ("#00838f", "#ad1457", "#558b2f", "#4527a0", "#8d6e63")


def _layout(
    figure: go.Figure, height: int, *, title: str | None = None, top: int = 12, legend_y: float = -0.2
) -> go.Figure:
    """The dashboard's common layout; ``legend_y`` (a fraction of the plot's height, below it) leaves room
    for the tick labels and any x axis title."""
    figure.update_layout(
        height=height,
        autosize=True,
        margin={"l": 48, "r": 12, "t": 36 if title else top, "b": 8},
        title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"} if title else None,
        font={"size": 12},
        legend={"orientation": "h", "yanchor": "top", "y": legend_y, "x": 0, "xanchor": "left"},
        paper_bgcolor="white",
        plot_bgcolor="#fafafa",
        hovermode="closest",
    )
    figure.update_xaxes(automargin=True, gridcolor="#e0e0e0")
    figure.update_yaxes(automargin=True, gridcolor="#e0e0e0", zerolinecolor="#bdbdbd")
    return figure


def _colour(name: str, index: int) -> str:
    return REGIME_COLOURS.get(name, _OTHER_COLOURS[index % len(_OTHER_COLOURS)])


def parameter_timeline(series: Sequence[ParameterSeries], until: datetime) -> go.Figure:
    """Each changed parameter's value per regime over the version times, as step lines (one row each),
    held until ``until`` (the store's latest record) so the live value shows as the last step."""
    parameters = list(dict.fromkeys((s.parameter, s.unit) for s in series))
    titles = [f"{parameter} ({unit})" for parameter, unit in parameters]
    figure = make_subplots(
        rows=len(parameters), cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.32 / len(parameters)
    )
    regimes = list(dict.fromkeys(s.regime for s in series))
    shown: set[str] = set()
    for row, (parameter, unit) in enumerate(parameters, start=1):
        for line in (s for s in series if s.parameter == parameter and s.unit == unit):
            colour = _colour(line.regime, regimes.index(line.regime))
            figure.add_trace(
                go.Scatter(
                    x=[*line.times, until],
                    y=[*line.values, line.values[-1]],
                    mode="lines+markers",
                    line={"shape": "hv", "color": colour, "width": 2},
                    marker={"size": [7] * len(line.times) + [0], "color": colour},
                    name=line.regime,
                    legendgroup=line.regime,
                    showlegend=line.regime not in shown,
                    customdata=[*(f"version {v}" for v in line.versions), "now"],
                    hovertemplate=f"{line.regime}.{parameter}: %{{y}} {unit}<br>%{{customdata}}, %{{x}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
            shown.add(line.regime)
    for annotation in figure.layout.annotations:
        annotation.update(font={"size": 12}, x=0, xanchor="left")
    height = 110 + 150 * len(parameters)
    return _layout(figure, height, top=28, legend_y=-55 / (height - 90))


def session_counts(sessions: Sequence[SessionRow]) -> go.Figure:
    """Validated and rejected proposals per session (bars) and the acceptance rate (line, right axis)."""
    labels = [f"{s.created_at:%m-%d %H:%M}" for s in sessions]  # UTC (the store's times are)
    if len(set(labels)) < len(labels):  # two sessions in one minute: each its own bar
        twice = {label for label in labels if labels.count(label) > 1}
        labels = [
            f"{label} {s.id[-4:]}" if label in twice else label for label, s in zip(labels, sessions, strict=True)
        ]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    hover = [s.id for s in sessions]
    figure.add_trace(
        go.Bar(
            x=labels,
            y=[s.validated for s in sessions],
            name="validated",
            marker_color="#2e7d32",
            customdata=hover,
            hovertemplate="%{customdata}: %{y} validated<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=labels,
            y=[s.rejected for s in sessions],
            name="rejected",
            marker_color="#bdbdbd",
            customdata=hover,
            hovertemplate="%{customdata}: %{y} rejected<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=[None if s.acceptance is None else 100 * s.acceptance for s in sessions],
            name="acceptance %",
            mode="lines+markers",
            line={"color": "#1565c0"},
            hovertemplate="acceptance %{y:.0f} %<extra></extra>",
        ),
        secondary_y=True,
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category", title_text="session (UTC)")
    figure.update_yaxes(title_text="proposals", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(
        title_text="acceptance",
        range=[0, 105],
        tickvals=[0, 25, 50, 75, 100],
        ticksuffix=" %",
        secondary_y=True,
        showgrid=False,
    )
    return _layout(figure, 340, legend_y=-0.32)


def model_quality(points: Sequence[ModelPoint]) -> go.Figure:
    """The tuners' models over time: cross-validated R2, MAE, and the validated changes' confidence."""
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=(
            "model R2 (cross-validated)",
            "model MAE (the target's unit)",
            "confidence of validated changes",
        ),
    )
    tuners = list(dict.fromkeys(p.tuner for p in points))
    for index, tuner in enumerate(tuners):
        mine = [p for p in points if p.tuner == tuner]
        colour = _OTHER_COLOURS[index % len(_OTHER_COLOURS)]
        hover = [
            f"{p.regime}.{p.parameter} ({'validated' if p.validated else 'rejected'}), {p.session_id}" for p in mine
        ]
        common = {"mode": "markers", "name": tuner, "legendgroup": tuner, "customdata": hover}
        symbols = ["circle" if p.validated else "circle-open" for p in mine]
        marker = {"color": colour, "size": 8, "symbol": symbols}
        times = [p.created_at for p in mine]
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[p.r2 for p in mine],
                marker=marker,
                **common,
                hovertemplate="R2 %{y:.3f}<br>%{customdata}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[p.mae for p in mine],
                marker=marker,
                showlegend=False,
                **common,
                hovertemplate="MAE %{y:.4g}<br>%{customdata}<extra></extra>",
            ),
            row=2,
            col=1,
        )
        chosen = [p for p in mine if p.confidence is not None]
        figure.add_trace(
            go.Scatter(
                x=[p.created_at for p in chosen],
                y=[p.confidence for p in chosen],
                marker={"color": colour, "size": 8},
                showlegend=False,
                mode="markers",
                name=tuner,
                legendgroup=tuner,
                customdata=[f"{p.regime}.{p.parameter}, {p.session_id}" for p in chosen],
                hovertemplate="confidence %{y:.0%}<br>%{customdata}<extra></extra>",
            ),
            row=3,
            col=1,
        )
    figure.update_yaxes(tickformat=".0%", range=[0, 1.05], row=3, col=1)
    for annotation in figure.layout.annotations:
        annotation.update(font={"size": 12}, x=0, xanchor="left")
    return _layout(figure, 580, top=28, legend_y=-0.1)


def data_quality(sessions: Sequence[SessionRow]) -> go.Figure:
    """Each session's data quality score and its parts, percent."""
    rated = [s for s in sessions if s.data_quality is not None]
    figure = go.Figure()
    times = [s.created_at for s in rated]
    figure.add_trace(
        go.Scatter(
            x=times,
            y=[s.data_quality for s in rated],
            name="score",
            mode="lines+markers",
            line={"color": "#212121", "width": 3},
        )
    )
    parts = list(dict.fromkeys(name for s in rated for name in s.quality_parts))
    for index, part in enumerate(parts):
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[s.quality_parts.get(part) for s in rated],
                name=part,
                mode="lines+markers",
                line={"color": _OTHER_COLOURS[index % len(_OTHER_COLOURS)], "width": 1, "dash": "dot"},
            )
        )
    figure.update_yaxes(title_text="%", range=[0, 105])
    return _layout(figure, 340)


def equity(chart: EquityChart) -> go.Figure:
    """One validated change's daily equity out of sample: the current playbook against the change."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=chart.days, y=chart.baseline, name="current playbook", mode="lines", line={"color": "#757575", "width": 2}
        )
    )
    figure.add_trace(
        go.Scatter(
            x=chart.days, y=chart.candidate, name="with the change", mode="lines", line={"color": "#1565c0", "width": 2}
        )
    )
    title = f"{chart.item} {chart.regime}.{chart.parameter}: {value_text(chart.current)} → {value_text(chart.proposed)}"
    figure.update_yaxes(title_text="equity")
    return _layout(figure, 300, title=title)


def predicted_vs_realised(audit: AuditView) -> go.Figure:
    """Each audited version's predicted effect per trade (the gate's) against the realised one (the live
    trades replayed under both versions), with the realised 90 % interval, coloured by verdict."""
    figure = go.Figure()
    points = audit.predicted_vs_realised
    for verdict, colour in VERDICT_COLOURS.items():
        mine = [a for a in points if a.verdict == verdict]
        if not mine:
            continue
        x = [a.prediction.effect for a in mine if a.prediction is not None]
        y = [a.realised.effect for a in mine if a.realised is not None]
        upper = [a.realised.interval[1] - a.realised.effect for a in mine if a.realised is not None]
        lower = [a.realised.effect - a.realised.interval[0] for a in mine if a.realised is not None]
        hover = [
            f"version {a.version} ({a.prediction.kind if a.prediction else '?'} → "
            f"{a.realised.kind if a.realised else '?'}, {a.realised.trades if a.realised else 0} trades)"
            for a in mine
        ]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers+text",
                text=[f"v{a.version}" for a in mine],
                textposition="top center",
                name=verdict.replace("_", " "),
                marker={"color": colour, "size": 11},
                error_y={"type": "data", "array": upper, "arrayminus": lower, "color": colour, "thickness": 1},
                customdata=hover,
                hovertemplate="%{customdata}<br>predicted %{x:.3%}<br>realised %{y:.3%}<extra></extra>",
            )
        )
    values = [a.prediction.effect for a in points if a.prediction and a.prediction.effect is not None]
    values += [v for a in points if a.realised for v in a.realised.interval]
    if values:
        low, high = min(*values, 0.0), max(*values, 0.0)
        figure.add_trace(
            go.Scatter(
                x=[low, high],
                y=[low, high],
                mode="lines",
                name="realised = predicted",
                line={"color": "#9e9e9e", "dash": "dash", "width": 1},
                hoverinfo="skip",
            )
        )
    figure.update_xaxes(title_text="predicted effect per trade", zeroline=True, tickformat=".2%")
    figure.update_yaxes(title_text="realised effect per trade", zeroline=True, tickformat=".2%")
    return _layout(figure, 380, legend_y=-0.3)


def learning_curve(points: Sequence[LearningPoint]) -> go.Figure:
    """The cumulative share of judged versions that did better than the version they replaced, by week."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[f"{p.week:%Y-%m-%d}" for p in points],
            y=[p.share for p in points],
            mode="lines+markers",
            line={"color": "#2e7d32", "width": 2},
            marker={"size": 8},
            name="share better",
            customdata=[f"{p.better} of {p.judged} judged" for p in points],
            hovertemplate="week of %{x}: %{y:.0%}<br>%{customdata}<extra></extra>",
        )
    )
    figure.update_yaxes(tickformat=".0%", range=[0, 1.05], title_text="better / judged")
    figure.update_xaxes(title_text="week judged (its Monday, UTC)", type="category")
    return _layout(figure, 300, legend_y=-0.35)
