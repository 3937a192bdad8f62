"""Safety rules and data quality."""

from __future__ import annotations

import pandas as pd
import pytest

from framework.config import Settings
from framework.playbook import STRATEGY_WEIGHTS, parse_playbook
from framework.quality import data_quality
from framework.safety import apply_safety, risk_class
from framework.tuners.base import NoProposal, Proposal

PLAYBOOK = parse_playbook(
    "default:\n  leverage: 2.5\n  stop_loss: 0.02\n  risk_reward_ratio: 2.0\n"
    "  confidence_threshold: 0.0\n  position_size: 0.1\n  max_hold: 48h\n"
    "bounds:\n  leverage: [1, 3]\n"
)


def trades(regimes: dict[str, int]) -> pd.DataFrame:
    rows = [r for regime, n in regimes.items() for r in [regime] * n]
    entry = pd.date_range("2026-01-01", periods=len(rows), freq="6h", tz="UTC")
    return pd.DataFrame(
        {
            "regime": rows,
            "strategy": ["momentum"] * len(rows),
            "entry_time": entry,
            "exit_time": entry + pd.Timedelta(hours=2),
            "exit_reason": "signal",
            "pnl": 1.0,
        }
    )


def proposal(parameter: str, current: float, *candidates: float, regime: str = "trending_up") -> Proposal:
    return Proposal("test", regime, parameter, current, tuple(candidates), 0.5, "because")


def test_thin_data_is_refused_with_counts() -> None:
    _, refused = apply_safety(
        [proposal("leverage", 2.5, 2.0, regime="volatile")], PLAYBOOK, trades({"volatile": 37}), Settings()
    )
    assert [r.reason for r in refused] == [
        "not enough trades in volatile to tune it (n=37 in the training window, need 50: min_trades_for_tuning)"
    ]


def test_candidates_are_clipped_to_bounds_then_capped_at_the_largest_change() -> None:
    accepted, _ = apply_safety(
        [proposal("leverage", 2.5, 4.0, 2.9), proposal("stop_loss", 0.02, 0.05)],
        PLAYBOOK,
        trades({"trending_up": 60}),
        Settings(),
    )
    leverage, stop = accepted
    assert leverage.candidates == (3.0, 2.9)  # 4.0 clipped to the bound 3, inside the 30 % cap of 3.25
    assert stop.candidates == (pytest.approx(0.026),)  # 0.05 capped at +30 %
    assert any("capped" in note for note in stop.notes)


def test_zero_current_value_is_capped_relative_to_the_bound_range() -> None:
    accepted, _ = apply_safety(
        [proposal("confidence_threshold", 0.0, 0.9)], PLAYBOOK, trades({"trending_up": 60}), Settings()
    )
    assert accepted[0].candidates == (pytest.approx(0.3),)


def test_unchanged_candidates_and_non_proposals_are_refused() -> None:
    _, refused = apply_safety(
        [proposal("leverage", 2.5, 2.5), NoProposal("test", "ranging", "leverage", "no edge")],
        PLAYBOOK,
        trades({"trending_up": 60}),
        Settings(),
    )
    assert "no candidate differs" in refused[0].reason
    assert refused[1].reason == "no edge"


def test_strategy_weights_count_the_strategy_s_trades() -> None:
    weight = Proposal("test", STRATEGY_WEIGHTS, "momentum", 1.0, (1.2,), 0.5, "because")
    accepted, refused = apply_safety([weight], PLAYBOOK, trades({"ranging": 60}), Settings())
    assert accepted[0].candidates == (1.2,) and not refused
    other = Proposal("test", STRATEGY_WEIGHTS, "breakout", 1.0, (1.2,), 0.5, "because")
    _, refused = apply_safety([other], PLAYBOOK, trades({"ranging": 60}), Settings())
    assert (
        refused[0].reason
        == "not enough trades in breakout to tune it (n=0 in the training window, need 50: min_trades_for_tuning)"
    )


@pytest.mark.parametrize(
    ("parameter", "current", "proposed", "expected"),
    [
        ("leverage", 2.0, 2.1, "medium"),  # a leverage increase is never low risk
        ("leverage", 2.0, 2.6, "high"),
        ("leverage", 2.0, 1.5, "medium"),  # removing risk: low up to 20 %, then medium
        ("position_size", 0.1, 0.08, "low"),
        ("leverage", 2.0, 1.9, "low"),
        ("confidence_threshold", 0.6, 0.65, "low"),  # stricter filter
        ("confidence_threshold", 0.6, 0.55, "medium"),  # admits more trades
        ("risk_reward_ratio", 2.0, 2.1, "low"),
        ("risk_reward_ratio", 2.0, 2.6, "high"),
        ("stop_loss", 0.02, 0.021, "medium"),  # a wider stop loses more per trade
    ],
)
def test_risk_classes(parameter: str, current: float, proposed: float, expected: str) -> None:
    assert risk_class(parameter, "trending_up", current, proposed) == expected


def test_data_quality_parts_and_score() -> None:
    rich = data_quality(trades({"trending_up": 60, "trending_down": 60, "ranging": 60, "volatile": 60}), Settings())
    thin = data_quality(trades({"ranging": 20}), Settings())
    assert set(rich.parts) == {"completeness", "trade_count", "regime_diversity", "time_coverage"}
    assert rich.parts["regime_diversity"] == 100.0 and thin.parts["regime_diversity"] == 0.0
    assert rich.parts["trade_count"] == 100.0 and thin.parts["trade_count"] == 10.0
    assert 0 <= thin.score < rich.score <= 100
    assert rich.score == pytest.approx(sum(rich.parts.values()) / 4, abs=0.1)
