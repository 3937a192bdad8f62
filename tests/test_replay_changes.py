"""Candidates given as changes of a base playbook replay exactly like the edited playbooks; inputs selected
from a larger preparation replay exactly like inputs prepared for the selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.market import load_market
from framework.playbook import STRATEGY_WEIGHTS, ParameterChange, load_playbook
from framework.replay import prepare, replay_candidates, replay_tables, select, tables_for_changes
from framework.sample import write_sample
from framework.trades import load_trades

CHANGE_SETS = [
    [],
    [ParameterChange("default", "stop_loss", 0.03)],
    [ParameterChange("default", "leverage", 4.0), ParameterChange("volatile", "leverage", 1.5)],
    [
        ParameterChange("ranging", "risk_reward_ratio", 1.2),
        ParameterChange("default", "risk_reward_ratio", 2.5),
    ],
    [ParameterChange("trending_up", "confidence_threshold", 0.8)],
    [ParameterChange("default", "max_hold", pd.Timedelta(hours=6))],
    [ParameterChange("trending_down", "max_hold", None), ParameterChange("default", "position_size", 0.2)],
    [
        ParameterChange(STRATEGY_WEIGHTS, "momentum", 1.5),
        ParameterChange(STRATEGY_WEIGHTS, "mean_reversion", 0.3),
    ],
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("changes"), seed=4, days=20).directory


def test_change_tables_equal_edited_playbooks(sample: Path) -> None:
    base = load_playbook(sample / "playbook.yaml")
    settings = ReplaySettings()
    inputs = prepare(load_trades(sample / "trades.csv").frame, load_market(sample / "prices"), settings)
    from_tables = replay_tables(inputs, tables_for_changes(inputs, base, CHANGE_SETS), settings, per_trade=True)
    edited = [base.with_changes(changes) for changes in CHANGE_SETS]
    from_playbooks = replay_candidates(inputs, edited, settings, per_trade=True)
    pd.testing.assert_frame_equal(from_tables.metrics, from_playbooks.metrics)
    for k in range(len(CHANGE_SETS)):
        pd.testing.assert_frame_equal(from_tables.trades(k), from_playbooks.trades(k))
    # the changes did change something
    assert from_tables.metrics["total_return"].nunique() == len(CHANGE_SETS)
    assert np.isfinite(from_tables.metrics["sharpe"]).all()


def test_selected_inputs_replay_like_inputs_prepared_for_the_selection(sample: Path) -> None:
    base = load_playbook(sample / "playbook.yaml")
    settings = ReplaySettings()
    market = load_market(sample / "prices")
    trades = load_trades(sample / "trades.csv").frame
    everything = prepare(trades, market, settings)
    rng = np.random.default_rng(3)
    one_symbol = trades[trades["symbol"] == trades["symbol"].iloc[-1]]
    later = trades[trades["entry_time"] >= trades["entry_time"].quantile(0.6)]
    shuffled = trades.iloc[rng.permutation(len(trades))[: len(trades) // 3]]  # any row order, any subset
    for subset in (trades, one_symbol, later, shuffled, trades.iloc[:1]):
        prepared, selected = prepare(subset, market, settings), select(everything, subset)
        assert list(selected.trade_id) == list(prepared.trade_id) and selected.strategies == prepared.strategies
        np.testing.assert_array_equal(selected.order, prepared.order)
        np.testing.assert_array_equal(selected.arrays["day_ends"], prepared.arrays["day_ends"])
        options = {"per_trade": True, "equity": True}
        want = replay_tables(prepared, tables_for_changes(prepared, base, CHANGE_SETS), settings, **options)
        got = replay_tables(selected, tables_for_changes(selected, base, CHANGE_SETS), settings, **options)
        pd.testing.assert_frame_equal(got.metrics, want.metrics, check_exact=True)
        assert got.equity is not None and want.equity is not None
        pd.testing.assert_frame_equal(got.equity, want.equity, check_exact=True)
        for k in range(len(CHANGE_SETS)):
            pd.testing.assert_frame_equal(got.trades(k), want.trades(k), check_exact=True)


def test_a_selection_names_trades_it_was_not_prepared_with(sample: Path) -> None:
    market = load_market(sample / "prices")
    trades = load_trades(sample / "trades.csv").frame
    inputs = prepare(trades.iloc[:10], market)
    with pytest.raises(ValueError, match="not among the prepared ones"):
        select(inputs, trades.iloc[5:15])
