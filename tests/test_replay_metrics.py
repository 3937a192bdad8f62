"""The sweep's in-kernel metrics against vectorbt's returns accessor and plain pandas, on the sample.

vectorbt reads each candidate's daily equity (``result.equity``) as a value series with the initial
equity before it. Two definitions differ, and the tests compare what is comparable:

- vectorbt's ``max_drawdown`` takes peaks only from the series itself, not from ``init_value``: after a
  losing first day it measures from that day's lower equity. Ours counts the initial equity as the first
  peak. Ours equals vectorbt's on the series with the initial equity prepended as day 0, and equals the
  plain one whenever the first day does not lose. Our ``calmar`` uses our drawdown over the n real days.
- With no trade at all (every daily return 0) vectorbt's Sharpe is +inf (it returns inf whenever the
  standard deviation is 0); ours is NaN. That candidate is left out of the ratio comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.market import Candles, Market, gap_report, load_market
from framework.playbook import ParameterChange, Playbook, load_playbook, parse_playbook
from framework.replay import ReplayInputs, SweepResult, prepare, replay_candidates
from framework.sample import write_sample
from framework.trades import load_trades, validate_trades

INITIAL_EQUITY = 10_000.0
# Seed 2 has candidates that lose on their first day and ones that gain: both drawdown cases occur.
SAMPLE_SEED = 2
EXCLUDES_ALL = 5  # index in the candidates fixture of the playbook that takes no trade


@dataclass(frozen=True)
class Sweep:
    trades: pd.DataFrame
    inputs: ReplayInputs
    settings: ReplaySettings
    playbooks: list[Playbook]
    result: SweepResult
    equity: pd.DataFrame  # result.equity, asked for


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    paths = write_sample(tmp_path_factory.mktemp("sample"), seed=SAMPLE_SEED, days=30)
    trades = load_trades(paths.trades).frame
    playbook = load_playbook(paths.playbook)
    settings = ReplaySettings()
    # every sample confidence is below 1, so a threshold of 1 in every block excludes every trade
    assert trades["confidence"].max() < 1.0
    playbooks = [
        playbook,
        playbook.with_changes([ParameterChange("default", "stop_loss", 0.005)]),
        playbook.with_changes(
            [
                ParameterChange("default", "leverage", 8.0),
                ParameterChange("default", "risk_reward_ratio", 0.5),
            ]
        ),
        playbook.with_changes(
            [
                ParameterChange("trending_up", "confidence_threshold", 0.7),
                ParameterChange("default", "max_hold", pd.Timedelta("6h")),
            ]
        ),
        # a stop beyond the liquidation price (1/10 - 0.005 = 9.5 %): liquidations happen
        playbook.with_changes(
            [
                ParameterChange("volatile", "leverage", 10.0),
                ParameterChange("volatile", "stop_loss", 0.1),
                ParameterChange("ranging", "position_size", 0.3),
            ]
        ),
        playbook.with_changes(
            ParameterChange(regime, "confidence_threshold", 1.0)
            for regime in ("default", "trending_up", "trending_down")
        ),
        # gains on its first day (the others above lose on it)
        playbook.with_changes(
            [
                ParameterChange("default", "stop_loss", 0.01),
                ParameterChange("default", "risk_reward_ratio", 0.5),
                ParameterChange("default", "leverage", 1.0),
            ]
        ),
    ]
    inputs = prepare(trades, load_market(paths.prices), settings)
    result = replay_candidates(inputs, playbooks, settings, initial_equity=INITIAL_EQUITY, per_trade=True, equity=True)
    assert result.equity is not None
    return Sweep(
        trades=trades,
        inputs=inputs,
        settings=settings,
        playbooks=playbooks,
        result=result,
        equity=result.equity,
    )


def vbt_returns(equity: pd.Series) -> Any:
    """vectorbt's returns accessor over a daily equity curve that starts from INITIAL_EQUITY."""
    # vectorbt takes seconds to import: only tests that use it pay for it.
    import vectorbt as vbt  # noqa: F401  (registers the .vbt accessor)

    values = pd.Series(equity.to_numpy(), index=equity.index.tz_localize(None))
    return values.vbt.returns.from_value(values, init_value=INITIAL_EQUITY, freq="1D", year_freq="365D")


def test_ratios_and_total_return_match_vectorbt(sweep: Sweep) -> None:
    metrics = sweep.result.metrics
    traded = [k for k in range(len(sweep.playbooks)) if k != EXCLUDES_ALL]
    for k in traded:
        returns = vbt_returns(sweep.equity[k])
        ours = metrics.iloc[k]
        assert ours["sharpe"] == pytest.approx(returns.sharpe_ratio(), rel=1e-9)
        assert ours["sortino"] == pytest.approx(returns.sortino_ratio(), rel=1e-9)
        assert ours["total_return"] == pytest.approx(returns.total(), rel=1e-9)
        assert ours["log_growth"] == pytest.approx(np.log1p(returns.total()), rel=1e-9)


def test_max_drawdown_counts_the_initial_equity_as_a_peak_unlike_vectorbt(sweep: Sweep) -> None:
    metrics = sweep.result.metrics
    first_day_lost = sweep.equity.iloc[0] < INITIAL_EQUITY
    first_day_gained = sweep.equity.iloc[0] > INITIAL_EQUITY
    assert first_day_lost.any() and first_day_gained.any(), "the sample should show both cases"
    deeper = 0
    for k in range(len(sweep.playbooks)):
        equity = sweep.equity[k]
        day_zero = pd.Series([INITIAL_EQUITY], index=[equity.index[0] - pd.Timedelta(days=1)])
        with_start = pd.concat([day_zero, equity])
        assert metrics["max_drawdown"].iat[k] == pytest.approx(vbt_returns(with_start).max_drawdown(), rel=1e-9)
        plain = vbt_returns(equity).max_drawdown()
        if first_day_lost.iat[k]:
            assert metrics["max_drawdown"].iat[k] <= plain
            deeper += metrics["max_drawdown"].iat[k] < plain - 1e-6
        else:
            assert metrics["max_drawdown"].iat[k] == pytest.approx(plain, rel=1e-9)
    assert deeper > 0, "no candidate shows the difference this test documents"


def test_calmar_is_vectorbt_annualised_return_over_our_drawdown(sweep: Sweep) -> None:
    metrics = sweep.result.metrics
    for k in range(len(sweep.playbooks)):
        if k == EXCLUDES_ALL:
            continue
        returns = vbt_returns(sweep.equity[k])
        expected = returns.annualized() / abs(metrics["max_drawdown"].iat[k])
        assert metrics["calmar"].iat[k] == pytest.approx(expected, rel=1e-9)
        if sweep.equity[k].iat[0] >= INITIAL_EQUITY:
            assert metrics["calmar"].iat[k] == pytest.approx(returns.calmar_ratio(), rel=1e-9)


def test_trade_metrics_match_a_pandas_computation_from_the_per_trade_outcomes(sweep: Sweep) -> None:
    metrics = sweep.result.metrics
    assert metrics["liquidations"].max() > 0
    for k in range(len(sweep.playbooks)):
        outcomes = sweep.result.trades(k)
        taken = outcomes[outcomes["taken"]]
        ours = metrics.iloc[k]
        assert ours["trades_taken"] == len(taken)
        assert ours["liquidations"] == (taken["exit_reason"] == "liquidation").sum()
        if taken.empty:
            continue
        assert ours["win_rate"] == pytest.approx((taken["return"] > 0).mean(), rel=1e-12)
        assert ours["expectancy"] == pytest.approx(taken["return"].mean(), rel=1e-9)
        gross_loss = -taken.loc[taken["pnl"] <= 0, "pnl"].sum()
        assert ours["profit_factor"] == pytest.approx(taken.loc[taken["pnl"] > 0, "pnl"].sum() / gross_loss, rel=1e-9)


def test_exposure_is_the_share_of_the_day_grid_with_a_trade_open(sweep: Sweep) -> None:
    day_ends = sweep.equity.index
    span = day_ends[-1] - (day_ends[0] - pd.Timedelta(days=1))
    for k in range(len(sweep.playbooks)):
        outcomes = sweep.result.trades(k)
        spans = pd.DataFrame({"start": sweep.trades["entry_time"], "end": outcomes["exit_time"]})
        spans = spans[outcomes["taken"]].sort_values("start")
        # union of the open intervals: a new block starts where an entry comes after every earlier exit
        block = (spans["start"] > spans["end"].cummax().shift()).cumsum()
        covered = spans.groupby(block).agg(start=("start", "min"), end=("end", "max"))
        exposure = sweep.result.metrics["exposure"].iat[k]
        assert 0.0 <= exposure <= 1.0
        assert exposure == pytest.approx((covered["end"] - covered["start"]).sum() / span, rel=1e-12, abs=0)


def test_a_candidate_metrics_do_not_depend_on_the_rest_of_the_batch(sweep: Sweep) -> None:
    for k in (0, 4):
        alone = replay_candidates(
            sweep.inputs, [sweep.playbooks[k]], sweep.settings, initial_equity=INITIAL_EQUITY, equity=True
        )
        pd.testing.assert_series_equal(
            alone.metrics.iloc[0], sweep.result.metrics.iloc[k], check_names=False, rtol=0, atol=0
        )
        assert alone.equity is not None
        np.testing.assert_array_equal(alone.equity[0], sweep.equity[k])


def test_a_playbook_whose_thresholds_exclude_every_trade_takes_none_and_stays_flat(sweep: Sweep) -> None:
    ours = sweep.result.metrics.iloc[EXCLUDES_ALL]
    assert ours["trades_taken"] == 0
    assert ours["total_return"] == 0.0
    assert ours["max_drawdown"] == 0.0
    assert ours["exposure"] == 0.0
    assert (sweep.equity[EXCLUDES_ALL] == INITIAL_EQUITY).all()
    assert not sweep.result.trades(EXCLUDES_ALL)["taken"].any()


def test_total_return_counts_a_trade_that_exits_on_the_last_day_of_a_long_grid() -> None:
    step = pd.Timedelta(hours=1)
    index = pd.date_range("2025-01-01", periods=200 * 24 - 5, freq=step, tz="UTC", name="date")
    frame = pd.DataFrame({"open": 100.0, "high": 100.5, "low": 99.5, "close": 100.0, "volume": 1.0}, index=index)
    candles = Candles("SYN/USDT", "1h", "spot", frame, Path("<synthetic>"), gap_report(index, step))
    trades = validate_trades(
        pd.DataFrame(
            {
                "trade_id": ["t1"],
                "symbol": ["SYN/USDT"],
                "side": ["long"],
                "entry_time": [index[12]],
                "entry_price": [100.0],
                "exit_time": [index[-6]],  # the last day, 12:00
                "exit_price": [101.0],
                "confidence": [1.0],
                "exit_reason": ["signal"],
            }
        ),
        source="one trade",
    ).frame
    playbook = parse_playbook(
        "default:\n  leverage: 1\n  stop_loss: 0.02\n  risk_reward_ratio: 2\n"
        "  confidence_threshold: 0\n  position_size: 0.5\n  max_hold:\n"
    )
    settings = ReplaySettings(funding=False)
    market = Market(candles={"SYN/USDT": candles}, funding={}, source=Path("<synthetic>"))
    result = replay_candidates(prepare(trades, market, settings), [playbook], settings, per_trade=True)
    pnl = result.trades(0)["pnl"].sum()
    assert pnl > 0
    assert result.metrics["total_return"].iat[0] == pytest.approx(pnl / 10_000.0, rel=1e-12)
