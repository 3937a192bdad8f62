"""Charts (PNG) and the self-contained HTML report of a tuning session, from its typed
:class:`~framework.session.Session`: :mod:`~framework.report.data` (the series of each change's chart,
from a session, fresh or stored), :mod:`~framework.report.charts` (the equity and drawdown chart),
:mod:`~framework.report.html` (the report page).
"""

from framework.report.charts import (
    BASELINE_COLOUR,
    CANDIDATE_COLOUR,
    REGIME_COLOURS,
    equity_chart_png,
    equity_figure,
)
from framework.report.data import EquityComparison, drawdown, session_charts
from framework.report.html import render_html_report

__all__ = [
    "BASELINE_COLOUR",
    "CANDIDATE_COLOUR",
    "REGIME_COLOURS",
    "EquityComparison",
    "drawdown",
    "equity_chart_png",
    "equity_figure",
    "render_html_report",
    "session_charts",
]
