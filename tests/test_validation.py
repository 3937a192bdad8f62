"""The validation gate on the embedded sample: out-of-sample only, thin data refused, no edge no change."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from framework.config import Settings
from framework.market import load_market
from framework.playbook import load_playbook
from framework.regimes import label_trades
from framework.sample import write_sample
from framework.trades import load_trades
from framework.tuners import NoProposal, Proposal, Tuner, load_tuners
from framework.validation import run_gate

FAST = {"tuner_options": {"risk_ratio": {"trials": 10}}, "validation": {"folds": 3, "spa_reps": 300}}


def gate_inputs(directory: Path) -> tuple[pd.DataFrame, object, object]:
    market = load_market(directory / "prices")
    return (
        label_trades(load_trades(directory / "trades.csv").frame, market),
        market,
        load_playbook(directory / "playbook.yaml"),
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("planted"), seed=7, days=90).directory


class WindowSpy(Tuner):
    """Records the latest entry each tuning pass saw, and proposes one leverage step everywhere."""

    name = "spy"
    parameters = ("leverage",)
    seen: ClassVar[list[pd.Timestamp]] = []

    def propose(self, context):  # type: ignore[no-untyped-def]
        WindowSpy.seen.append(context.trades["entry_time"].max())
        current = context.playbook.parameters_for("ranging").leverage
        return [Proposal(self.name, "ranging", "leverage", current, (current * 1.1,), 0.5, "spy")]


def test_tuners_never_see_the_holdout_and_are_refit_on_every_fold(planted: Path) -> None:
    trades, market, playbook = gate_inputs(planted)
    settings = Settings.model_validate(FAST | {"parallel": {"backend": "serial"}})  # the spy records in this process
    WindowSpy.seen = []
    report = run_gate(trades, market, playbook, settings, [WindowSpy()])
    holdout_start = trades.sort_values("entry_time")["entry_time"].iloc[-report.holdout_trades]
    assert len(WindowSpy.seen) == settings.validation.folds + 1
    assert WindowSpy.seen == sorted(WindowSpy.seen) and len(set(WindowSpy.seen)) == len(WindowSpy.seen)
    assert all(seen < holdout_start for seen in WindowSpy.seen)
    (verdict,) = report.verdicts
    assert verdict.oos_trades > 0 and verdict.n_trials == 1
    assert verdict.baseline_out["trades_taken"] == verdict.candidate_out["trades_taken"]


def test_every_verdict_carries_its_evidence_and_accepted_ones_pass_every_rule(planted: Path) -> None:
    trades, market, playbook = gate_inputs(planted)
    settings = Settings.model_validate(FAST)
    report = run_gate(trades, market, playbook, settings, load_tuners(list(settings.tuners), settings.tuner_options))
    assert report.verdicts
    for verdict in report.verdicts:
        assert 0.0 <= verdict.p_value <= 1.0 and 0.0 <= verdict.dsr <= 1.0
        evidence = verdict.evidence
        assert verdict.p_value == evidence["p_value"] >= evidence["p_value_raw"]  # Holm never lowers a p-value
        assert evidence["slots_tested"] == len(report.verdicts)
        assert evidence["out_of_sample_days"] == report.out_of_sample_days > 0
        assert len(evidence["fold_values"]) == report.folds
        low, high = evidence["interval"]
        assert low <= evidence["effect"] <= high
        assert set(verdict.baseline_out) == set(verdict.candidate_out) == set(verdict.candidate_in)
        assert verdict.reason
        if verdict.accepted:
            assert verdict.p_value < settings.validation.alpha
            assert evidence["effect"] > 0 and evidence["capped_effect"] >= 0
            assert evidence["holdout_interval"][1] >= 0  # not significantly worse on the holdout
            assert verdict.candidate_out["liquidations"] == 0
            assert verdict.confidence == pytest.approx(1 - verdict.p_value)


def test_thin_data_is_an_answer(planted: Path) -> None:
    trades, market, playbook = gate_inputs(planted)
    settings = Settings.model_validate({**FAST, "validation": {**FAST["validation"], "min_oos_trades": 100_000}})
    report = run_gate(trades, market, playbook, settings, [WindowSpy()])
    (verdict,) = report.verdicts
    assert not verdict.accepted
    assert verdict.reason.startswith("not enough trades in ranging out of sample (n=")
    assert verdict.reason.endswith("need 100000: min_oos_trades)")


def test_a_market_with_no_edge_yields_no_recommendation(tmp_path: Path) -> None:
    directory = write_sample(tmp_path, seed=3, days=90, structure=False).directory
    trades, market, playbook = gate_inputs(directory)
    settings = Settings.model_validate(FAST)
    report = run_gate(trades, market, playbook, settings, load_tuners(list(settings.tuners), settings.tuner_options))
    assert report.verdicts, "the tuners do propose changes in-sample"
    assert not report.accepted, [v.slot for v in report.accepted]


def test_no_proposal_means_no_verdict(planted: Path) -> None:
    class Silent(Tuner):
        name = "silent"
        parameters = ("leverage",)

        def propose(self, context):  # type: ignore[no-untyped-def]
            return [NoProposal(self.name, "ranging", "leverage", "nothing to say")]

    trades, market, playbook = gate_inputs(planted)
    report = run_gate(trades, market, playbook, Settings.model_validate(FAST), [Silent()])
    assert report.verdicts == () and [r.reason for r in report.refused] == ["nothing to say"]


def test_with_a_signal_log_the_untaken_signals_join_every_replay(planted: Path) -> None:
    from framework.trades import load_signals

    trades, market, playbook = gate_inputs(planted)
    settings = Settings.model_validate(FAST)
    signals = load_signals(planted / "signals.csv").frame
    plain = run_gate(trades, market, playbook, settings, [WindowSpy()])
    with_log = run_gate(trades, market, playbook, settings, [WindowSpy()], signals=signals)
    (without,), (with_signals,) = plain.verdicts, with_log.verdicts
    # the untaken signals are below every threshold of the current playbook: the same trades are taken
    assert with_signals.baseline_out["trades_taken"] == without.baseline_out["trades_taken"]
    assert with_signals.baseline_out["total_return"] == pytest.approx(without.baseline_out["total_return"])
    # the signals join the replay, not the count of logged out-of-sample trades
    assert with_signals.oos_trades == without.oos_trades
    assert with_signals.own_trades["trades"] == without.own_trades["trades"] == without.oos_trades


def test_the_out_of_sample_record_ends_with_each_blocks_last_exit(planted: Path) -> None:
    trades, market, playbook = gate_inputs(planted)
    settings = Settings.model_validate(FAST)
    from framework.validation import plan_windows

    report = run_gate(trades, market, playbook, settings, [WindowSpy()])
    out_of_sample = plan_windows(trades, settings).out_of_sample
    first_test = out_of_sample["entry_time"].min()
    span = (out_of_sample["exit_time"].max() - first_test) / pd.Timedelta(days=1)
    # a day per calendar day the chained blocks span, plus the days two blocks share; never the
    # candles' tail after the last exit of a block
    assert report.out_of_sample_days <= span + settings.validation.folds + 2
    candles_days = (market.for_symbol(market.symbols()[0]).frame.index[-1] - first_test) / pd.Timedelta(days=1)
    assert report.out_of_sample_days < candles_days * (settings.validation.folds + 1) / 2


def test_trades_held_too_long_for_the_folds_get_fewer_folds_and_a_clear_layout(planted: Path) -> None:
    from framework.validation import plan_windows

    trades, _, _ = gate_inputs(planted)
    settings = Settings.model_validate({"validation": {"folds": 5}})
    held = trades.assign(exit_time=trades["entry_time"] + pd.Timedelta(days=12))
    plan = plan_windows(held, settings)
    assert 2 <= len(plan.folds) < 5
    assert plan.layout.startswith(f"{len(plan.folds)} walk-forward folds") and "(not 5: 5 folds: " in plan.layout
    assert all(len(train) >= settings.min_trades_for_tuning for train, _ in plan.folds)
    never = trades.assign(exit_time=trades["entry_time"] + pd.Timedelta(days=80))
    none = plan_windows(never, settings)
    assert none.folds == () and none.layout.startswith("no walk-forward fold (")
    assert "the holdout of" in none.layout and len(none.out_of_sample) == len(none.holdout)


def test_a_tuner_that_fails_on_a_window_is_a_refusal_not_the_end_of_the_tune(planted: Path) -> None:
    from framework.errors import InputError

    class Limited(Tuner):
        name = "limited"
        parameters = ("stop_loss",)

        def propose(self, context):  # type: ignore[no-untyped-def]
            raise InputError.single("search spec", "-1.03 is not a drawdown", field="max_drawdown_floor")

    trades, market, playbook = gate_inputs(planted)
    report = run_gate(trades, market, playbook, Settings.model_validate(FAST), [Limited(), WindowSpy()])
    refusals = [r for r in report.refused if r.tuner == "limited"]
    assert {r.regime for r in refusals} == {"trending_up", "trending_down", "ranging", "volatile"}
    assert all(r.reason.startswith("could not run on this window: ") for r in refusals)
    assert "max_drawdown_floor" in refusals[0].reason
    assert [v.slot.tuner for v in report.verdicts] == ["spy"]  # the other tuner still ran and was judged
