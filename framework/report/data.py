"""The data of a session's charts: one change's equity before and after, from a stored session.

:func:`session_charts` turns the daily equity series a :class:`~framework.session.Session` keeps into
one :class:`EquityComparison` per validated change, so a stored session draws the same charts as the
tune that made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.errors import PlaybookTunerError
from framework.formatting import value_text
from framework.regimes import REGIMES
from framework.session import Session, SessionCharts


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
