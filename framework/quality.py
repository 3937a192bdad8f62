"""How much a trade log can be trusted for tuning: a 0-100 % score and its parts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from framework.config import Settings
from framework.regimes import REGIMES

# Optional trade-log columns whose presence makes tuning better informed.
INFORMATIVE_COLUMNS = (
    "regime",
    "stake",
    "stop_loss",
    "take_profit",
    "pnl",
    "forecast_return",
    "min_rate",
    "max_rate",
)


@dataclass(frozen=True)
class DataQuality:
    """``score`` is the mean of the parts; every number is a percentage (0-100)."""

    score: float
    parts: dict[str, float]


def data_quality(trades: pd.DataFrame, settings: Settings) -> DataQuality:
    """Score a (regime-labelled) trade log.

    - completeness: share of filled cells over the informative optional columns and of exit reasons
      that are known (not ``other``);
    - trade_count: trades over what tuning every regime needs (``min_trades_for_tuning`` x regimes), capped;
    - regime_diversity: entropy of the regime mix over the largest possible (all regimes equally often);
    - time_coverage: share of the ``lookback_days`` before the last exit with at least one entry.
    """
    if trades.empty:
        parts = dict.fromkeys(("completeness", "trade_count", "regime_diversity", "time_coverage"), 0.0)
        return DataQuality(score=0.0, parts=parts)
    filled = [trades[c].notna().mean() for c in INFORMATIVE_COLUMNS if c in trades.columns]
    filled.append((trades["exit_reason"] != "other").mean())
    completeness = sum(filled) / len(filled)
    trade_count = min(1.0, len(trades) / (settings.min_trades_for_tuning * len(REGIMES)))
    shares = trades["regime"].value_counts(normalize=True)
    entropy = -sum(p * math.log(p) for p in shares if p > 0)
    regime_diversity = entropy / math.log(len(REGIMES))
    end = trades["exit_time"].max()
    window = trades[trades["entry_time"] > end - pd.Timedelta(days=settings.lookback_days)]
    active_days = window["entry_time"].dt.floor("D").nunique()
    time_coverage = min(1.0, active_days / settings.lookback_days)
    parts = {
        "completeness": round(100 * completeness, 1),
        "trade_count": round(100 * trade_count, 1),
        "regime_diversity": round(100 * regime_diversity, 1),
        "time_coverage": round(100 * time_coverage, 1),
    }
    return DataQuality(score=round(sum(parts.values()) / len(parts), 1), parts=parts)
