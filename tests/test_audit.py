"""The post-apply audit on scripted live months of the sample (tests/audit_cases.py), a real store and the
real replay: the realised difference is a direct replay's, a planted bad change is flagged and rolled
back only when a person asks, young and unreplayable versions say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.audit_cases import MOMENTUM_CUT, LiveCase, applied_session, hand_change, with_weights
from framework.audit import playbook_changes, reached
from framework.config import Settings
from framework.decisions import DecisionError
from framework.desk import TuningDesk
from framework.out_of_sample import exposure
from framework.pipeline import TuneFiles
from framework.regimes import label_trades
from framework.replay import replay
from framework.sample import cached_sample
from framework.store import Store
from framework.trades import validate_signals
from framework.tuning import with_untaken_signals


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> LiveCase:
    return applied_session(tmp_path_factory.mktemp("applied"))


@pytest.fixture(scope="module")
def planted_bad(tmp_path_factory: pytest.TempPathFactory) -> LiveCase:
    return hand_change(tmp_path_factory.mktemp("bad"), lambda v1: with_weights(v1, MOMENTUM_CUT))


def direct_growth_differences(case: LiveCase) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Per-trade log-growth differences of the live month computed from two plain replays, on the trades
    the change reaches."""
    settings = Settings()
    live = label_trades(case.live_trades(), case.market).reset_index(drop=True)
    signals = validate_signals(pd.read_csv(case.files.signals), source="signals").frame  # type: ignore[arg-type]
    signals = signals[signals["entry_time"] >= pd.Timestamp(case.live_from)]
    trades = with_untaken_signals(live, signals, case.market, case.after)
    new = replay(trades, case.market, case.after, settings.replay)
    old = replay(trades, case.market, case.before, settings.replay)
    either = (new["taken"].to_numpy() | old["taken"].to_numpy()) & reached((case.after, case.before), trades)
    gain_new = np.log1p(np.where(new["taken"], exposure(case.after, trades) * new["return"].fillna(0.0), 0.0))
    gain_old = np.log1p(np.where(old["taken"], exposure(case.before, trades) * old["return"].fillna(0.0), 0.0))
    return (gain_new - gain_old)[either], either, new, trades


def test_the_realised_difference_of_an_applied_session_is_a_direct_replays(applied: LiveCase) -> None:
    report = applied.desk().audit()
    audit = report.of(2)
    assert audit is not None and audit.realised is not None
    assert audit.replaced == 1 and audit.live_from == applied.live_from and audit.live_until is None
    assert audit.prediction is not None and audit.prediction.session_id == applied.session_id
    assert [(c.regime, c.parameter) for c in audit.changes] == [
        (c.regime, c.parameter) for c in playbook_changes(applied.before, applied.after)
    ]
    differences, either, new, _ = direct_growth_differences(applied)
    realised = audit.realised
    assert realised.kind == "growth" or {c.parameter for c in audit.changes} <= {"stop_loss", "risk_reward_ratio"}
    if realised.kind == "growth":
        assert realised.trades == len(differences) == int(either.sum())
        assert realised.effect == pytest.approx(differences.mean(), rel=1e-9, abs=1e-12)
    assert realised.version.trades_taken == int(new["taken"].sum())
    assert realised.version.trades_taken >= 300  # a month of the sample bot's trades, some of them reached
    stored = Store(applied.files.store_path).latest_audit()
    assert stored is not None and stored.payload == report.model_dump(mode="json")


def test_a_planted_bad_change_is_flagged_and_rolled_back_only_on_request(planted_bad: LiveCase) -> None:
    desk = planted_bad.desk()
    report = desk.audit()
    audit = report.of(2)
    assert audit is not None and audit.realised is not None
    assert [(c.regime, c.parameter, c.before, c.after) for c in audit.changes] == [
        ("strategy_weights", "momentum", 1.0, 0.1)
    ]
    differences, _, _, _ = direct_growth_differences(planted_bad)
    assert audit.realised.effect == pytest.approx(differences.mean(), rel=1e-9)
    assert audit.realised.effect < 0 and audit.verdict == "worse", audit.note
    assert audit.realised.p_worse < report.alpha
    assert report.flagged() == (audit,) and report.accuracy.judged == 0  # a hand change predicts nothing
    assert desk.status().flagged == (audit,)
    assert Store(planted_bad.files.store_path).latest_playbook_version().version == 2  # never by itself

    rolled = desk.roll_back_flagged(2, "cli:tester")
    assert (rolled.target, rolled.new) == (1, 3)
    assert planted_bad.files.playbook.read_text() == planted_bad.before.text
    with pytest.raises(DecisionError, match="no longer live"):
        desk.roll_back_flagged(2, "cli:tester")
    with Store(planted_bad.files.store_path) as store:
        versions = store.playbook_versions()
        assert [v.version for v in versions] == [1, 2, 3]
        rollbacks = [e for e in store.audit_log() if e.event == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].actor == "cli:tester"
    assert "the audit found version 2 worse than version 1" in versions[-1].reason


def test_a_press_naming_a_version_the_audit_does_not_flag_does_nothing(tmp_path: Path) -> None:
    case = hand_change(tmp_path, lambda v1: with_weights(v1, {"mean_reversion": 1.0, "momentum": 1.5}))
    desk = case.desk()
    audit = desk.audit().of(2)
    assert audit is not None and audit.verdict != "worse"
    with pytest.raises(DecisionError, match="does not find version 2 worse"):
        desk.roll_back_flagged(2, "cli:tester")
    with pytest.raises(DecisionError, match="does not find version 7 worse"):
        desk.roll_back_flagged(7, "cli:tester")
    assert Store(case.files.store_path).latest_playbook_version().version == 2


def test_a_young_version_says_when_it_can_be_judged(tmp_path: Path) -> None:
    case = hand_change(tmp_path, lambda v1: with_weights(v1, MOMENTUM_CUT), live_days=0.5)
    audit = case.desk().audit().of(2)
    assert audit is not None and audit.realised is not None
    assert audit.realised.trades < Settings().audit.min_trades
    assert audit.verdict == "young", audit.note
    assert audit.judgeable_at is None or audit.judgeable_at > case.live_from


def test_a_version_without_live_trades_or_candles_is_unaudited_and_the_audit_goes_on(tmp_path: Path) -> None:
    case = hand_change(tmp_path, lambda v1: with_weights(v1, MOMENTUM_CUT))
    with Store(case.files.store_path, clock=lambda: case.end) as store:
        store.publish_playbook(case.files.playbook, case.before.text, author="cli:x", reason="back by hand")
    report = case.desk().audit()
    assert [a.version for a in report.versions] == [2, 3]
    last = report.of(3)
    assert last is not None and last.verdict == "unaudited" and "no trade" in last.note
    assert report.of(2) is not None and report.of(2).live_until == case.end  # type: ignore[union-attr]


def test_with_no_applied_version_the_logs_are_not_read(tmp_path: Path) -> None:
    sample = cached_sample()
    files = TuneFiles(
        trades=tmp_path / "trades.csv", prices=sample.prices, playbook=tmp_path / "playbook.yaml", signals=None
    )
    files.trades.write_text("not,a,trade log\n1,2\n", encoding="utf-8")
    files.playbook.write_text(sample.playbook.read_text(encoding="utf-8"), encoding="utf-8")
    report = TuningDesk(files, Settings()).audit()
    assert report.versions == () and report.live_version == 1
    with Store(files.store_path) as store:
        assert store.latest_audit() is not None
