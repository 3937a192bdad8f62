"""Charts (PNG) of one validated change: equity of the current playbook and of the candidate at UTC
day ends over the regimes the market was in, and the drawdown of both. Telegram sends these PNGs as
photos; the HTML report embeds them.

Charts are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot: no
figure stays registered after a call and no call changes another's style.
"""

from __future__ import annotations

import io
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from framework.regimes import REGIMES
from framework.report.data import EquityComparison, drawdown

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
