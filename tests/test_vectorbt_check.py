"""The vectorbt check (framework/replay/vectorbt_check.py) and ``SweepResult.to_vbt``, against vectorbt 1.2
itself: nothing of vectorbt is mocked.

On the sample's trades (and its untaken signals) under playbooks that exercise every rule the check puts
to vectorbt (levels, a max_hold deadline, the confidence filter, a trailing stop) and the ones it cannot
(liquidation, a second trailing distance, funding), the check agrees where vectorbt can follow and counts
the rest by reason; a replay made wrong on purpose is caught and refused, also by the gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from framework.config import ParallelSettings, ReplaySettings, Settings
from framework.market import Candles, Market, gap_report, load_market
from framework.playbook import ParameterChange, Playbook, load_playbook, parse_playbook
from framework.regimes import label_trades
from framework.replay import SweepResult, kernels, prepare, replay_candidates, replay_tables, tables_for_changes
from framework.replay import vectorbt_check as vc
from framework.replay.engine import PARAMETER_GROUPS
from framework.sample import write_sample
from framework.trades import load_signals, load_trades
from framework.tuners import Proposal, Tuner
from framework.tuning import with_untaken_signals
from framework.validation import run_gate

CHANGES: dict[str, list[ParameterChange]] = {
    "current": [],
    "tighter stop": [ParameterChange("default", "stop_loss", 0.008)],
    "lower threshold": [ParameterChange("default", "confidence_threshold", 0.1)],
    "max hold": [ParameterChange("default", "max_hold", pd.Timedelta("5h"))],
    "trailing": [ParameterChange("default", "trailing_stop", True)],
    "trailing positive": [
        ParameterChange("default", "trailing_stop", True),
        ParameterChange("default", "trailing_stop_positive", 0.004),
        ParameterChange("default", "trailing_stop_positive_offset", 0.006),
    ],
    "high leverage": [ParameterChange("default", "leverage", 45.0)],
}


@dataclasses.dataclass(frozen=True)
class Sample:
    directory: Path
    trades: pd.DataFrame
    market: Market
    playbook: Playbook


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    directory = write_sample(tmp_path_factory.mktemp("vectorbt"), seed=5, days=30).directory
    market = load_market(directory / "prices")
    playbook = load_playbook(directory / "playbook.yaml")
    logged = label_trades(load_trades(directory / "trades.csv").frame, market)
    signals = load_signals(directory / "signals.csv").frame
    return Sample(directory, with_untaken_signals(logged, signals, market, playbook), market, playbook)


@pytest.fixture(scope="module")
def swept(sample: Sample) -> SweepResult:
    inputs = prepare(sample.trades, sample.market, ReplaySettings())
    tables = tables_for_changes(inputs, sample.playbook, list(CHANGES.values()))
    return replay_tables(inputs, tables, ReplaySettings(), per_trade=True)


def replays(result: SweepResult) -> list[vc.Replayed]:
    return [vc.replayed(result, k, group=name, label="changed") for k, name in enumerate(CHANGES)]


@pytest.fixture(scope="module")
def agreements(swept: SweepResult) -> dict[object, vc.Agreement]:
    return vc.check(replays(swept))


def test_vectorbt_agrees_on_every_trade_it_can_express(agreements: dict[object, vc.Agreement]) -> None:
    for name, agreement in agreements.items():
        assert agreement.agree, (name, agreement.disagreements)
        assert agreement.compared["changed"] == agreement.agreeing["changed"] > 100, name
        assert agreement.largest["exit_bar"] == 0
        assert agreement.largest["exit_price"] <= vc.PRICE_RTOL and agreement.largest["return"] <= vc.RETURN_TOL


def test_the_rules_put_to_vectorbt_are_exercised(swept: SweepResult, agreements: dict[object, vc.Agreement]) -> None:
    """Guards the agreement above against passing on trades where nothing happens."""
    assert swept.per_trade is not None
    reasons = {name: swept.per_trade["reason"][k][swept.per_trade["taken"][k]] for k, name in enumerate(CHANGES)}
    assert {kernels.STOP_LOSS, kernels.TAKE_PROFIT, kernels.SIGNAL} <= set(reasons["current"])
    assert (reasons["max hold"] == kernels.TIME).sum() > 50
    assert (reasons["tighter stop"] == kernels.STOP_LOSS).sum() > (reasons["current"] == kernels.STOP_LOSS).sum()
    assert (swept.per_trade["taken"][0] != swept.per_trade["taken"][2]).any()
    # the untaken signals: not taken under the current threshold, taken under a lower one
    assert agreements["current"].not_taken["changed"] > agreements["lower threshold"].not_taken["changed"]
    assert agreements["lower threshold"].compared["changed"] > agreements["current"].compared["changed"]
    # trailing stops that moved and were hit in a later bar are compared
    trailing = agreements["trailing"]
    stopped_current = (reasons["current"] == kernels.STOP_LOSS).sum()
    assert (reasons["trailing"] == kernels.STOP_LOSS).sum() > stopped_current
    assert trailing.compared["changed"] > 0.9 * swept.per_trade["taken"][4].sum()


def test_what_vectorbt_cannot_express_is_counted_by_reason(agreements: dict[object, vc.Agreement]) -> None:
    assert agreements["current"].not_expressible["changed"] == {}
    assert agreements["tighter stop"].not_expressible["changed"] == {}
    assert agreements["trailing"].not_expressible["changed"].keys() == {vc.TRAILING_ORDER}
    assert agreements["trailing positive"].not_expressible["changed"].get(vc.TRAILING_POSITIVE, 0) > 0
    assert agreements["high leverage"].not_expressible["changed"].get(vc.LIQUIDATION, 0) > 0
    evidence = agreements["high leverage"].evidence()
    assert evidence["agree"] is True
    assert evidence["not_expressible"]["changed"][vc.LIQUIDATION] > 0


def test_a_replayed_exit_price_altered_is_refused(swept: SweepResult) -> None:
    honest = vc.replayed(swept, 1, group="tighter stop", label="changed")
    taken = np.flatnonzero(honest.taken)
    wrong = honest.exit_price.copy()
    wrong[taken[7]] *= 1.0 + 1e-6
    agreement = vc.check([dataclasses.replace(honest, exit_price=wrong)])["tighter stop"]
    assert not agreement.agree
    assert agreement.disagreeing == 1 and agreement.compared["changed"] == honest.taken.sum()
    (record,) = agreement.disagreements
    trade_id = str(honest.inputs.trade_id[taken[7]])
    assert record["trade_id"] == trade_id and record["differs"] == ["exit_price"]
    assert record["replay"]["exit_price"] == pytest.approx(record["vectorbt"]["exit_price"] * (1 + 1e-6), rel=1e-12)
    assert agreement.refusal().startswith("the replay disagrees with vectorbt on 1 of ")
    assert trade_id in agreement.refusal() and agreement.evidence()["agree"] is False


def test_a_replayed_exit_one_bar_late_or_a_trade_wrongly_taken_is_caught(swept: SweepResult) -> None:
    honest = vc.replayed(swept, 1, group="stop", label="changed")
    stopped = np.flatnonzero(honest.taken & (honest.reason == kernels.STOP_LOSS))
    late = honest.exit_ns.copy()
    late[stopped[0]] += honest.inputs.paths.timeframe_ns[stopped[0]]
    filtered = honest.taken.copy()
    filtered[stopped[1]] = False
    agreement = vc.check(
        [
            dataclasses.replace(honest, exit_ns=late),
            dataclasses.replace(honest, label="filtered", taken=filtered),
        ]
    )["stop"]
    assert agreement.disagreeing == 2
    by_playbook = {record["playbook"]: record for record in agreement.disagreements}
    late_record, taken_record = by_playbook["changed"], by_playbook["filtered"]
    assert late_record["differs"] == ["exit_bar"]
    assert taken_record["differs"] == ["taken"] and taken_record["vectorbt"] == {"taken": True}


def test_simulating_span_by_span_changes_nothing(
    swept: SweepResult, agreements: dict[object, vc.Agreement], monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 days of 5-minute bars are one span by default; in spans of 500 bars (18 per symbol, trades
    running past their span's end) every count and largest difference is the same, and a planted
    late exit is still caught."""
    monkeypatch.setattr(vc, "SPAN_BARS", 500)
    assert_as_in_one_go(swept, agreements, vc.check)


def assert_as_in_one_go(
    swept: SweepResult,
    agreements: dict[object, vc.Agreement],
    check: Callable[[list[vc.Replayed]], dict[Hashable, vc.Agreement]],
) -> None:
    """``check`` gives every count and largest difference of ``agreements`` (the default check's), and
    catches a planted late exit."""
    other = check(replays(swept))
    assert other.keys() == agreements.keys()
    for name, agreement in agreements.items():
        assert dataclasses.replace(other[name], seconds=0.0) == dataclasses.replace(agreement, seconds=0.0), name
    honest = vc.replayed(swept, 1, group="stop", label="changed")
    late = honest.exit_ns.copy()
    stopped = np.flatnonzero(honest.taken & (honest.reason == kernels.STOP_LOSS))
    late[stopped[-1]] += honest.inputs.paths.timeframe_ns[stopped[-1]]
    assert check([dataclasses.replace(honest, exit_ns=late)])["stop"].disagreeing == 1


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_the_symbols_simulated_on_workers_give_the_same_agreements(
    swept: SweepResult, agreements: dict[object, vc.Agreement], backend: str
) -> None:
    """Each symbol is one unit of work; on two workers (process workers import vectorbt themselves) every
    count and largest difference is the serial check's, and a planted late exit is still caught."""
    assert len(swept.inputs.symbols) > 1
    parallel = ParallelSettings(backend=backend, workers=2)
    assert_as_in_one_go(swept, agreements, lambda replayed: vc.check(replayed, parallel))


def test_funding_charged_is_counted_not_compared(sample: Sample) -> None:
    symbol = sorted(sample.market.candles)[0]
    index = pd.date_range("2025-12-01", "2026-03-01", freq="8h", tz="UTC", name="date").as_unit("ns")
    frame = pd.DataFrame({c: 0.0001 for c in ("open", "high", "low", "close")}, index=index)
    frame["volume"] = np.nan
    funding = Candles(symbol, "8h", "funding_rate", frame, Path("<funding>"), gap_report(index, pd.Timedelta("8h")))
    market = dataclasses.replace(sample.market, funding={symbol: funding})
    result = replay_candidates(
        prepare(sample.trades, market, ReplaySettings()), [sample.playbook], ReplaySettings(), per_trade=True
    )
    agreement = vc.check([vc.replayed(result, 0, group="funded", label="current")])["funded"]
    assert agreement.agree
    charged = agreement.not_expressible["current"][vc.FUNDING]
    of_symbol = int((result.trades(0)["taken"] & (sample.trades["symbol"] == symbol)).sum())
    assert 0 < charged <= of_symbol
    assert agreement.compared["current"] >= int(result.trades(0)["taken"].sum()) - of_symbol


EXPRESSIBLE_PLAYBOOK = """\
default:
  leverage: 2
  stop_loss: 0.015
  risk_reward_ratio: 2
  confidence_threshold: 0.4
  position_size: 0.05
  max_hold: 24h
regimes:
  volatile:
    stop_loss: 0.03
    risk_reward_ratio: 1
"""


def test_to_vbt_gives_our_total_return_and_trades(sample: Sample) -> None:
    playbook = parse_playbook(EXPRESSIBLE_PLAYBOOK, source="test")
    settings = ReplaySettings(fee=0.0007)
    inputs = prepare(sample.trades, sample.market, settings)
    result = replay_candidates(inputs, [playbook], settings, initial_equity=5_000.0, per_trade=True)
    metrics = result.metrics.iloc[0]
    assert metrics["liquidations"] == 0 and metrics["trades_taken"] > 300
    portfolio = result.to_vbt(0)
    assert portfolio.total_return() == pytest.approx(metrics["total_return"], rel=1e-9)
    assert portfolio.trades.count() == metrics["trades_taken"]
    stats = portfolio.stats()
    assert stats["Total Trades"] == metrics["trades_taken"]
    assert stats["Total Return [%]"] == pytest.approx(100 * metrics["total_return"], rel=1e-9)
    assert stats["Start Value"] == 5_000.0
    ours = result.trades(0)
    pnl = portfolio.trades.records_readable["PnL"].to_numpy()
    assert np.sort(pnl) == pytest.approx(np.sort(ours["pnl"].dropna().to_numpy()), rel=1e-9, abs=1e-9)
    assert portfolio.plot(subplots=["cum_returns"]) is not None


def test_to_vbt_says_when_vectorbt_cannot_pay_for_the_positions(sample: Sample) -> None:
    playbook = parse_playbook(EXPRESSIBLE_PLAYBOOK.replace("position_size: 0.05", "position_size: 0.6"), source="t")
    settings = ReplaySettings()
    result = replay_candidates(prepare(sample.trades, sample.market, settings), [playbook], settings, per_trade=True)
    with pytest.raises(ValueError, match="cash ran out"):
        result.to_vbt(0)


class RangingLeverage(Tuner):
    """Proposes one leverage step in the ranging block, where the planted sample pays for it."""

    name = "ranging_leverage"
    parameters: ClassVar[tuple[str, ...]] = ("leverage",)

    def propose(self, context):  # type: ignore[no-untyped-def]
        current = context.playbook.parameters_for("ranging").leverage
        return [Proposal(self.name, "ranging", "leverage", current, (current * 1.25,), 0.5, "test")]


def test_the_gate_refuses_a_change_whose_replay_vectorbt_contradicts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = write_sample(tmp_path, seed=7, days=90).directory
    market = load_market(directory / "prices")
    trades = label_trades(load_trades(directory / "trades.csv").frame, market)
    playbook = load_playbook(directory / "playbook.yaml")
    settings = Settings.model_validate({"validation": {"folds": 3, "spa_reps": 300, "alpha": 0.5}})

    def wrong_replay(*args, **kwargs):  # type: ignore[no-untyped-def]
        """The replay, with the first ranging trade's exit price under the change 1 % off."""
        result = replay_tables(*args, **kwargs)
        ranging = result.inputs.book.group == PARAMETER_GROUPS.index("ranging")
        first = np.flatnonzero(result.per_trade["taken"][1] & ranging)[0]
        result.per_trade["exit_price"][1, first] *= 1.01
        return result

    honest = run_gate(trades, market, playbook, settings, [RangingLeverage()])
    (verdict,) = honest.verdicts
    assert verdict.accepted, verdict.reason
    assert verdict.evidence["vectorbt"]["agree"] is True
    assert verdict.evidence["vectorbt"]["compared"]["changed"] > 100

    monkeypatch.setattr("framework.validation.replay_tables", wrong_replay)
    refused = run_gate(trades, market, playbook, settings, [RangingLeverage()])
    (verdict,) = refused.verdicts
    assert not verdict.accepted
    assert verdict.reason.startswith("the replay disagrees with vectorbt on ")
    assert verdict.evidence["vectorbt"]["agree"] is False
    assert verdict.evidence["vectorbt"]["disagreements"][0]["differs"] == ["exit_price"]


def with_trade_fees(trades: pd.DataFrame) -> pd.DataFrame:
    """Per-trade fees of several sizes, some missing (the configured fee then)."""
    rng = np.random.default_rng(7)
    fees = trades.copy()
    fees["fee_open"] = rng.choice([0.0002, 0.0005, 0.001, np.nan], size=len(trades))
    fees["fee_close"] = rng.choice([0.0, 0.0004, 0.002, np.nan], size=len(trades))
    return fees


def test_vectorbt_agrees_with_per_trade_fees(sample: Sample) -> None:
    settings = ReplaySettings(fee=0.0007)
    inputs = prepare(with_trade_fees(sample.trades), sample.market, settings)
    changes = [CHANGES["current"], CHANGES["tighter stop"], CHANGES["trailing"]]
    result = replay_tables(inputs, tables_for_changes(inputs, sample.playbook, changes), settings, per_trade=True)
    uniform = replay_tables(
        prepare(sample.trades, sample.market, settings),
        tables_for_changes(inputs, sample.playbook, changes),
        settings,
        per_trade=True,
    )
    assert result.per_trade is not None and uniform.per_trade is not None
    assert not np.allclose(result.per_trade["return"], uniform.per_trade["return"])  # the fees are used
    agreements = vc.check([vc.replayed(result, k, group=k, label="changed") for k in range(len(changes))])
    for agreement in agreements.values():
        assert agreement.agree, agreement.disagreements
        assert agreement.compared["changed"] > 100


def test_to_vbt_charges_each_trade_its_own_fees(sample: Sample) -> None:
    playbook = parse_playbook(EXPRESSIBLE_PLAYBOOK, source="test")
    settings = ReplaySettings(fee=0.0007)
    result = replay_candidates(
        prepare(with_trade_fees(sample.trades), sample.market, settings), [playbook], settings, per_trade=True
    )
    portfolio = result.to_vbt(0)
    assert portfolio.total_return() == pytest.approx(result.metrics.iloc[0]["total_return"], rel=1e-9)
    pnl = portfolio.trades.records_readable["PnL"].to_numpy()
    assert np.sort(pnl) == pytest.approx(np.sort(result.trades(0)["pnl"].dropna().to_numpy()), rel=1e-9, abs=1e-9)


def test_a_roi_table_is_counted_not_compared(sample: Sample) -> None:
    inputs = prepare(sample.trades, sample.market, ReplaySettings())
    table = ((0, 0.02), (60, 0.01), (240, 0.0))
    tables = tables_for_changes(inputs, sample.playbook, [[ParameterChange("default", "minimal_roi", table)]])
    result = replay_tables(inputs, tables, ReplaySettings(), per_trade=True)
    assert result.per_trade is not None and (result.per_trade["reason"][0] == kernels.ROI).sum() > 50
    agreement = vc.check([vc.replayed(result, 0, group="roi", label="changed")])["roi"]
    assert agreement.agree and agreement.compared["changed"] == 0
    skipped = agreement.not_expressible["changed"]
    assert skipped[vc.ROI_TABLE] > 0.9 * result.per_trade["taken"][0].sum()
    assert sum(skipped.values()) == result.per_trade["taken"][0].sum()
