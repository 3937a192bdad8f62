"""The planted cases of backtests/planted_cases.py plant what they say, on the real candles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.planted_cases import (
    CaseFiles,
    PlantedCase,
    confidence_cases,
    confidence_nulls,
    generate_trades,
    leverage_cases,
    write_candle_set,
    write_case,
)
from framework.config import ReplaySettings
from framework.market import Market, load_market
from framework.playbook import load_playbook
from framework.regimes import label_trades
from framework.replay import replay
from framework.trades import load_trades

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def market(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Market:
    """The 10 BTC pairs at 1h, written in freqtrade's layout."""
    return load_market(write_candle_set("btc_pairs_1h", tmp_path_factory.mktemp("prices"), shared_data))


def _right(trades: pd.DataFrame) -> pd.Series:
    """Whether each trade's side is the sign of its move to the exit."""
    return (trades["side"] == "long") == (trades["exit_price"] >= trades["entry_price"])


def _by_confidence(trades: pd.DataFrame, regime: str, threshold: float) -> tuple[float, float]:
    inside = trades["planted_regime"] == regime
    high = trades["confidence"] >= threshold
    right = _right(trades)
    return float(right[inside & high].mean()), float(right[inside & ~high].mean())


def test_headline_case_plants_the_accuracy_above_and_below_the_true_threshold(market: Market) -> None:
    case = confidence_cases()[-1]
    assert (case.accuracy_above, case.accuracy_below) == (0.85, 0.40)
    trades = generate_trades(case, market, seed=3)
    assert len(trades) == 3000
    assert (trades["planted_regime"] == "ranging").sum() > 1000
    above, below = _by_confidence(trades, "ranging", 0.65)
    assert above == pytest.approx(0.85, abs=0.04)
    assert below == pytest.approx(0.40, abs=0.04)
    elsewhere = _right(trades)[trades["planted_regime"] != "ranging"]
    assert elsewhere.mean() == pytest.approx(0.5, abs=0.06)
    assert trades["confidence"].between(0.3, 1.0).all()
    assert (trades["exit_time"] - trades["entry_time"] == pd.Timedelta(hours=48)).all()


def test_weaker_effects_are_weaker(market: Market) -> None:
    gaps = []
    for case in confidence_cases():
        above, below = _by_confidence(generate_trades(case, market, seed=5), "ranging", 0.65)
        gaps.append(above - below)
    assert gaps == sorted(gaps)
    assert gaps[0] == pytest.approx(0.10, abs=0.07)


@pytest.mark.parametrize("case", confidence_nulls(), ids=lambda c: c.effect)
def test_null_cases_give_confidence_no_relationship_to_accuracy(market: Market, case: PlantedCase) -> None:
    trades = generate_trades(case, market, seed=7)
    above, below = _by_confidence(trades, "ranging", 0.65)
    assert above == pytest.approx(case.accuracy_above, abs=0.05)
    assert below == pytest.approx(case.accuracy_above, abs=0.05)
    ranging = trades[trades["planted_regime"] == "ranging"]
    correlation = np.corrcoef(ranging["confidence"], _right(ranging).astype(float))[0, 1]
    assert abs(correlation) < 0.06


def test_leverage_case_plants_an_edge_in_one_regime_only(market: Market) -> None:
    case = next(c for c in leverage_cases() if c.effect == "0.60")
    trades = generate_trades(case, market, seed=11)
    right = _right(trades)
    assert right[trades["planted_regime"] == "ranging"].mean() == pytest.approx(0.60, abs=0.04)
    assert right[trades["planted_regime"] != "ranging"].mean() == pytest.approx(0.50, abs=0.06)


def test_same_seed_same_log_other_seed_other_log(market: Market) -> None:
    case = confidence_cases()[0]
    first = generate_trades(case, market, seed=1)
    pd.testing.assert_frame_equal(first, generate_trades(case, market, seed=1))
    assert not first["side"].equals(generate_trades(case, market, seed=2)["side"])


def test_written_case_loads_labels_as_planted_and_replays_its_logged_exits(market: Market, tmp_path: Path) -> None:
    case = dataclasses.replace(confidence_cases()[-1], n_trades=400)
    files = write_case(case, tmp_path / "case", seed=4, prices=market.source)
    assert isinstance(files, CaseFiles)
    log = load_trades(files.trades).frame
    assert "regime" not in log or log["regime"].isna().all()
    loaded = load_market(files.prices)
    labelled = label_trades(log, loaded)
    planted = generate_trades(case, loaded, seed=4)
    by_id = planted.set_index("trade_id")["planted_regime"]
    assert list(labelled["regime"]) == list(by_id.loc[labelled["trade_id"]])
    playbook = load_playbook(files.playbook)
    assert playbook.parameters_for("ranging").confidence_threshold == pytest.approx(0.30)
    span = log["entry_time"].max() - log["entry_time"].min()
    open_trades = len(log) * pd.Timedelta(hours=48) / span
    assert files.position_size * open_trades == pytest.approx(1.0, rel=0.05)  # open margin about the equity
    outcomes = replay(labelled, loaded, playbook, ReplaySettings())
    assert outcomes["taken"].all()
    # The wide levels bind seldom (January 2018's altcoins reach a 30 % stop in ~2 % of 48-hour holds):
    # the logged exits decide the replay.
    timed = outcomes["exit_reason"].isin(["signal", "time"])
    assert timed.mean() > 0.95
    same = np.isclose(outcomes["exit_price"].to_numpy(), log["exit_price"].to_numpy())
    assert same[timed.to_numpy()].all()


def test_judge_names_planted_true_and_wrong_changes() -> None:
    headline = confidence_cases()[-1]
    assert headline.judge("ranging", "confidence_threshold", "up") == "planted"
    assert headline.judge("ranging", "confidence_threshold", "down") == "wrong"
    assert headline.judge("volatile", "leverage", "up") == "wrong"  # no edge there
    assert headline.judge("ranging", "leverage", "up") == "true"  # accuracy 0.625 overall
    assert headline.judge("ranging", "stop_loss", "down") == "unrated"
    null = confidence_nulls()[0]
    assert null.judge("ranging", "confidence_threshold", "up") == "wrong"
    assert null.judge("ranging", "leverage", "up") == "wrong"
    no_edge = leverage_cases()[0]
    assert no_edge.direction is None
    assert no_edge.judge("ranging", "leverage", "up") == "wrong"


def test_a_crashed_session_is_an_outcome_and_is_counted_by_prefix(
    market: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backtests import gate_calibration  # the harness needs the pipeline; the generator does not

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("fold 1 of 5 has no training trades left; use fewer folds")

    monkeypatch.setattr(gate_calibration, "run_tune", crash)
    case = dataclasses.replace(confidence_cases()[-1], n_trades=200)
    task = gate_calibration.Task(case, 0, market.source, tmp_path / "s", None)
    session = gate_calibration.run_session(task)
    assert session["error"] == "RuntimeError: fold 1 of 5 has no training trades left; use fewer folds"
    summary = gate_calibration.summarize(case, [session, {**session, "seed": 1}], details=False)
    assert summary["errors"] == {"count": 2, "by_prefix": {"RuntimeError: fold N of N has no training trades left": 2}}
    assert summary["sessions_completed"] == 0
    json.dumps(summary)


def test_tune_with_the_defaults_answers_on_a_log_of_48_hour_holds(shared_data: Path, tmp_path: Path) -> None:
    """The headline case: ~3,000 trades held 48 h on 20 days of real candles. Five folds of the search
    window are shorter than a hold; the gate cuts fewer, the leverage tuner's own model says why it cannot
    fit, and the session is stored."""
    from framework.config import Settings
    from framework.pipeline import TuneFiles, run_tune

    case = confidence_cases()[-1]
    prices = write_candle_set(case.candles, tmp_path / "prices", shared_data)
    files = write_case(case, tmp_path / "case", 0, prices)
    outcome = run_tune(TuneFiles(files.trades, prices, files.playbook), Settings())
    report = outcome.report
    assert 0 < report.folds < 5
    assert report.layout.startswith(f"{report.folds} walk-forward folds") and "(not 5: 5 folds:" in report.layout
    assert outcome.document["layout"] == report.layout
    planted = [v for v in report.verdicts if v.slot.describe() == "ranging.confidence_threshold"]
    assert planted and planted[0].accepted, [v.reason for v in planted]
    assert outcome.session.id and outcome.document["pending"]


def test_strategy_case_plants_an_edge_in_one_strategy_only(market: Market) -> None:
    from backtests.planted_cases import EDGE_STRATEGY, PLAIN_STRATEGY, strategy_cases

    case = next(c for c in strategy_cases() if c.effect == "0.70")
    trades = generate_trades(case, market, seed=5)
    right = _right(trades)
    edge = trades["strategy"] == EDGE_STRATEGY
    assert 0.4 < edge.mean() < 0.6
    assert right[edge].mean() == pytest.approx(0.70, abs=0.04)
    assert right[trades["strategy"] == PLAIN_STRATEGY].mean() == pytest.approx(0.5, abs=0.04)
    assert case.judge("strategy_weights", EDGE_STRATEGY, "up") == "planted"
    assert case.judge("strategy_weights", PLAIN_STRATEGY, "down") == "true"
    assert case.judge("strategy_weights", EDGE_STRATEGY, "down") == "wrong"
    assert case.judge("ranging", "confidence_threshold", "up") == "wrong"
    null = next(c for c in strategy_cases() if c.direction is None)
    assert null.judge("strategy_weights", PLAIN_STRATEGY, "down") == "wrong"
