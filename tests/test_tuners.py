"""Tuners: the registry, a user's own tuner end to end, and every built-in tuner on the sample."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.config import SERIAL_PARALLEL, Settings, load_settings
from framework.errors import InputError
from framework.market import load_market
from framework.playbook import STRATEGY_WEIGHTS, ParameterChange, load_playbook, parse_playbook
from framework.regimes import REGIMES
from framework.sample import write_sample
from framework.strategy import load_strategy
from framework.trades import load_signals, load_trades
from framework.tuners.base import NoProposal, Proposal, Tuner
from framework.tuners.confidence import ConfidenceTuner
from framework.tuners.leverage import LeverageTuner
from framework.tuners.registry import BUILTIN_TUNERS, load_tuners, tuner_class
from framework.tuners.risk_ratio import RiskRatioTuner, drawdown_floor
from framework.tuners.strategy_weights import StrategyWeightTuner
from framework.tuning import TuningPass, build_context, regenerate_signals, run_tuners

# The README's example of a user tuner, verbatim.
USER_TUNER = '''
from framework import REGIMES
from framework.tuners import NoProposal, Proposal, Tuner


class TrimLosers(Tuner):
    """Propose a smaller position size in regimes whose trades return less than `below` on average."""

    name = "trim_losers"
    parameters = ("position_size",)

    def __init__(self, cut: float = 0.2, below: float = 0.0):
        self.cut = cut
        self.below = below

    def propose(self, context):
        returns = context.features.frame["outcome_return"]
        outcomes = []
        for regime in REGIMES:
            mean = returns[context.trades["regime"] == regime].mean()
            size = context.playbook.parameters_for(regime).position_size
            if mean < self.below:
                why = f"trades in {regime} returned {mean:.2%} on average"
                smaller = (size * (1 - self.cut),)
                outcomes.append(Proposal(self.name, regime, "position_size", size, smaller, 0.5, why))
            else:
                outcomes.append(NoProposal(self.name, regime, "position_size", f"{regime} trades pay"))
        return outcomes
'''


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("tuners"), seed=2).directory


# These tests read what a tuner learned (its ``*_`` attributes): run_tuners keeps it here when serial;
# on process workers it stays in the worker (framework.parallel).
IN_PROCESS = Settings(parallel=SERIAL_PARALLEL)


@pytest.fixture(scope="module")
def context(sample: Path):  # type: ignore[no-untyped-def]
    return build_context(
        load_trades(sample / "trades.csv").frame,
        load_market(sample / "prices"),
        load_playbook(sample / "playbook.yaml"),
        IN_PROCESS,
        seed=3,
    )


def _assert_safe(result: TuningPass, settings: Settings) -> None:
    """Every accepted candidate is inside the bounds and the largest change per session."""
    for safe in result.accepted:
        proposal = safe.proposal
        low, high = (0.0, 5.0) if proposal.regime == STRATEGY_WEIGHTS else _bounds(proposal)
        for value in safe.candidates:
            assert low <= value <= high
            assert abs(value - proposal.current) <= settings.max_parameter_change * abs(proposal.current) + 1e-12
            assert value != proposal.current


_BOOK: dict[str, tuple[float, float]] = {}


def _bounds(proposal: Proposal) -> tuple[float, float]:
    return _BOOK[proposal.parameter]


def test_registry_finds_builtins_paths_and_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BUILTIN_TUNERS:
        assert issubclass(tuner_class(name), Tuner)
    assert tuner_class("framework.tuners.leverage:LeverageTuner") is LeverageTuner
    assert tuner_class("framework.tuners.leverage.LeverageTuner") is LeverageTuner
    (tmp_path / "mytuners.py").write_text(USER_TUNER)
    dist = tmp_path / "mytuners-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mytuners\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[playbook_tuner.tuners]\ntrim = mytuners:TrimLosers\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert tuner_class("trim").__name__ == "TrimLosers"
    (tuner,) = load_tuners(["trim"], {"trim": {"cut": 0.1}})
    assert tuner.get_params() == {"cut": 0.1, "below": 0.0}


def test_registry_errors_name_the_tuner() -> None:
    with pytest.raises(InputError, match="unknown tuner 'magic'; built-in: leverage, risk_ratio"):
        tuner_class("magic")
    with pytest.raises(InputError, match="is not a Tuner subclass"):
        tuner_class("framework.config:Settings")
    with pytest.raises(InputError, match="options of tuner 'leverage'"):
        load_tuners(["leverage"], {"leverage": {"no_such_option": 1}})


@pytest.fixture
def user_tuner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The README's TrimLosers importable as ``mytuners:TrimLosers`` (the spec returned)."""
    (tmp_path / "mytuners.py").write_text(USER_TUNER)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mytuners:TrimLosers"
    sys.modules.pop("mytuners", None)


@pytest.mark.parametrize("key", ['"mytuners:TrimLosers"', "trim_losers"])
def test_user_tuner_options_from_a_file_keyed_by_spec_or_name(tmp_path: Path, user_tuner: str, key: str) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(f'tuners = ["{user_tuner}", "leverage"]\n[tuner_options]\n{key} = {{below = 1.0}}\n')
    settings = load_settings(config)
    trim, leverage = load_tuners(list(settings.tuners), settings.tuner_options)
    assert trim.get_params() == {"cut": 0.2, "below": 1.0}
    assert leverage.get_params() == LeverageTuner().get_params()


def test_a_listed_spec_wins_over_a_name() -> None:
    specs = ["leverage", "framework.tuners.leverage:LeverageTuner"]  # both named 'leverage'
    builtin, by_path = load_tuners(specs, {"leverage": {"kelly_fraction": 0.25}})
    assert (builtin.get_params()["kelly_fraction"], by_path.get_params()["kelly_fraction"]) == (0.25, 0.5)


def _problems(specs: list[str], options: dict[str, dict[str, object]]) -> dict[str | None, str]:
    with pytest.raises(InputError) as caught:
        load_tuners(specs, options)
    assert all(p.file == "configuration" for p in caught.value.problems)
    return {p.field: p.message for p in caught.value.problems}


def test_options_keyed_by_no_configured_tuner_are_an_error(user_tuner: str) -> None:
    problems = _problems([user_tuner, "leverage"], {"trim_loser": {"below": 1.0}, "risk_ratio": {"trials": 5}})
    listed = "configured: mytuners:TrimLosers (name 'trim_losers'), leverage"
    assert problems == {
        "tuner_options.trim_loser": f"'trim_loser' matches no configured tuner, by its entry under tuners or by its "
        f"name; {listed}",
        "tuner_options.risk_ratio": f"'risk_ratio' matches no configured tuner, by its entry under tuners or by its "
        f"name; {listed}",
    }


def test_options_under_two_keys_or_a_shared_name_are_an_error(user_tuner: str) -> None:
    problems = _problems([user_tuner], {user_tuner: {"cut": 0.1}, "trim_losers": {"below": 1.0}})
    assert problems == {
        "tuner_options.trim_losers": "tuner 'mytuners:TrimLosers' has options under both 'mytuners:TrimLosers' "
        "and 'trim_losers'; use one key"
    }
    specs = ["framework.tuners.leverage:LeverageTuner", "framework.tuners.leverage.LeverageTuner"]
    assert _problems(specs, {"leverage": {}}) == {
        "tuner_options.leverage": f"'leverage' is the name of several tuners ({', '.join(specs)}); "
        "key the options by one of those"
    }


def test_an_option_the_constructor_does_not_take_names_tuner_and_option(user_tuner: str) -> None:
    problems = _problems([user_tuner, "leverage"], {"trim_losers": {"bellow": 1.0, "cut": 0.1}})
    assert problems == {
        "tuner_options.trim_losers": "options of tuner 'mytuners:TrimLosers': unknown option 'bellow'; "
        "it takes: cut, below"
    }


def test_a_tuner_that_cannot_be_constructed_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "strict_tuners.py").write_text(
        "from framework.tuners import Tuner\n\n\n"
        "class Needy(Tuner):\n    name = 'needy'\n    parameters = ()\n\n"
        "    def __init__(self, level: float):\n        self.level = level\n\n"
        "    def propose(self, context):\n        return []\n\n\n"
        "class Unfinished(Tuner):\n    name = 'unfinished'\n    parameters = ()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _problems(["strict_tuners:Needy"], {}) == {
        "tuners": "options of tuner 'strict_tuners:Needy': missing a required argument: 'level'; it takes: level"
    }
    (needy,) = load_tuners(["strict_tuners:Needy"], {"needy": {"level": 2.0}})
    assert needy.get_params() == {"level": 2.0}
    with pytest.raises(InputError, match="tuner 'strict_tuners:Unfinished' does not implement propose"):
        tuner_class("strict_tuners:Unfinished")
    sys.modules.pop("strict_tuners", None)


@pytest.mark.parametrize("key", ["mytuners:TrimLosers", "trim_losers"])
def test_user_tuner_runs_end_to_end(user_tuner: str, key: str, context) -> None:  # type: ignore[no-untyped-def]
    (tuner,) = load_tuners([user_tuner], {key: {"below": 1.0}})
    result = run_tuners([tuner], context)
    assert len(result.outcomes) == 4
    assert len(result.accepted) == 4  # every regime returns less than 100 % on average
    for safe in result.accepted:
        assert safe.proposal.tuner == "trim_losers"
        assert safe.candidates == (pytest.approx(safe.proposal.current * 0.8),)
        assert safe.risks == ("low",)  # a 20 % smaller position removes risk


def test_confidence_tuner_only_raises_without_a_signal_log_and_finds_the_planted_edge(context) -> None:  # type: ignore[no-untyped-def]
    _BOOK.update(context.playbook.bounds)
    result = run_tuners([ConfidenceTuner()], context)
    _assert_safe(result, context.settings)
    raised = {s.proposal.regime for s in result.accepted}
    for safe in result.accepted:
        assert all(value > safe.proposal.current for value in safe.candidates)
    assert raised & {"trending_up", "trending_down"}, "confident trend trades pay in the sample"


def test_confidence_tuner_may_lower_with_a_signal_log(sample: Path, context) -> None:  # type: ignore[no-untyped-def]
    with_signals = build_context(
        context.trades,
        context.market,
        context.playbook,
        context.settings,
        signals=load_signals(sample / "signals.csv").frame,
    )
    assert len(with_signals.replay.inputs.trade_id) > len(context.trades)
    pd.testing.assert_series_equal(with_signals.replay.baseline(), context.replay.baseline(), check_names=False)
    lowered = with_signals.replay.evaluate([[ParameterChange("ranging", "confidence_threshold", 0.2)]])
    assert lowered["trades_taken"].iat[0] > context.replay.baseline()["trades_taken"]
    plain = {p.regime: p.n_trials for p in ConfidenceTuner().propose(context) if isinstance(p, Proposal)}
    result = run_tuners([ConfidenceTuner()], with_signals)
    for safe in result.accepted:  # lower thresholds were tried too
        if safe.proposal.regime in plain:
            assert safe.proposal.n_trials > plain[safe.proposal.regime]


def test_signals_regenerated_by_the_strategies_match_the_bot_s_trades(sample: Path, context) -> None:  # type: ignore[no-untyped-def]
    strategies = [load_strategy("momentum"), load_strategy("mean_reversion")]
    regenerated = regenerate_signals(context.trades, context.market, strategies)
    logged = load_signals(sample / "signals.csv").frame
    assert regenerated["taken"].sum() == len(context.trades)  # every trade found among the signals
    assert len(regenerated) >= len(logged)  # also the signals the bot skipped while in a position
    with_signals = build_context(
        context.trades, context.market, context.playbook, context.settings, signals=regenerated
    )
    lowered = with_signals.replay.evaluate([[ParameterChange("ranging", "confidence_threshold", 0.2)]])
    assert lowered["trades_taken"].iat[0] > context.replay.baseline()["trades_taken"]


def test_strategy_weights_follow_the_planted_structure(context) -> None:  # type: ignore[no-untyped-def]
    result = run_tuners([StrategyWeightTuner()], context)
    moves = {s.proposal.parameter: np.sign(s.candidates[0] - s.proposal.current) for s in result.accepted}
    assert moves.get("momentum", 0) >= 0 and moves.get("mean_reversion", 0) <= 0
    assert moves, "the sample's momentum out-earns mean reversion"


def test_leverage_tuner_reports_its_model_and_respects_the_kelly_ceiling(context) -> None:  # type: ignore[no-untyped-def]
    _BOOK.update(context.playbook.bounds)
    tuner = LeverageTuner()
    result = run_tuners([tuner], context)
    _assert_safe(result, context.settings)
    assert np.isfinite(tuner.report_.r2) and tuner.report_.mae > 0
    assert tuner.report_.target == "outcome_efficiency"
    for safe in result.accepted:
        assert safe.proposal.model is tuner.report_
        assert "Kelly ceiling" in safe.proposal.rationale
    assert len(result.outcomes) == 4
    trending = [s for s in result.accepted if s.proposal.regime in ("trending_up", "trending_down")]
    assert trending, "the sample's trends pay: more leverage there grows the account"
    assert all(min(s.candidates) > s.proposal.current for s in trending)


def test_risk_ratio_tuner_searches_each_regime_with_optuna(context) -> None:  # type: ignore[no-untyped-def]
    _BOOK.update(context.playbook.bounds)
    tuner = RiskRatioTuner(trials=15)
    result = run_tuners([tuner], context)
    _assert_safe(result, context.settings)
    assert tuner.searches_ and all(search.n_trials == 15 for search in tuner.searches_.values())
    for safe in result.accepted:
        assert safe.proposal.n_trials == 15
        assert safe.proposal.parameter in ("stop_loss", "risk_reward_ratio")


@pytest.mark.shared_data
def test_every_tuner_runs_on_real_freqtrade_trades_and_respects_the_rules(
    freqtrade_data: Path, real_trade_log: tuple[Path, Path]
) -> None:
    trades = load_trades(real_trade_log[0]).frame
    playbook = load_playbook(real_trade_log[1])
    settings = Settings()
    real = build_context(trades, load_market(freqtrade_data), playbook, settings, seed=1)
    _BOOK.update(playbook.bounds)
    result = run_tuners(load_tuners(list(BUILTIN_TUNERS), {"risk_ratio": {"trials": 10}}), real)
    _assert_safe(result, settings)
    counts = real.trades["regime"].value_counts()
    for refusal in result.refused:
        if refusal.reason.startswith("not enough trades in "):
            regime = refusal.reason.split()[4]
            assert counts.get(regime, 0) < settings.min_trades_for_tuning
    for safe in result.accepted:
        where = safe.proposal.regime
        n = len(real.trades) if where == "default" else counts.get(where, 0)
        if where != STRATEGY_WEIGHTS:
            assert n >= settings.min_trades_for_tuning


TRIAL_COLUMNS = {"number", "value", "feasible", "state"}


def test_risk_ratio_tuner_scales_a_roi_table_and_leaves_an_empty_ratio_alone(sample: Path) -> None:
    text = (sample / "playbook.yaml").read_text()
    text = text.replace(
        "  risk_reward_ratio: 2.0\n", "  risk_reward_ratio:\n  minimal_roi:\n    0: 0.002\n    120: 0.001\n"
    )
    text = text.replace("    risk_reward_ratio: 3.0    # far target for a market that mean-reverts\n", "")
    playbook = parse_playbook(text, "roi playbook")
    roi_context = build_context(
        load_trades(sample / "trades.csv").frame, load_market(sample / "prices"), playbook, Settings(), seed=3
    )
    tuner = RiskRatioTuner(trials=15)
    outcomes = tuner.propose(roi_context)
    searched = {regime: set(search.trials.columns) - TRIAL_COLUMNS for regime, search in tuner.searches_.items()}
    assert searched and all(space == {"stop_loss", "minimal_roi_scale"} for space in searched.values())
    ratio = [o for o in outcomes if o.parameter == "risk_reward_ratio"]
    assert ratio and all(isinstance(o, NoProposal) for o in ratio)
    assert any("empty" in o.reason for o in ratio if isinstance(o, NoProposal))
    scales = [o for o in outcomes if isinstance(o, Proposal) and o.parameter == "minimal_roi_scale"]
    assert scales, [o for o in outcomes if o.parameter == "minimal_roi_scale"]
    for proposal in scales:
        assert proposal.current == 1.0 and all(0.5 <= c <= 2.0 for c in proposal.candidates)
        assert "ROI table x" in proposal.rationale


def test_risk_ratio_tuner_searches_when_the_baseline_drawdown_is_near_a_total_loss(sample: Path) -> None:
    """A tuner's drawdown limit never aborts a tune: with the baseline drawdown below -95 %, the
    limit (baseline - slack) is clamped to -100 % instead of a value the search spec refuses."""
    playbook = load_playbook(sample / "playbook.yaml")
    reckless = playbook.with_changes(
        [ParameterChange(regime, name, value) for regime in ("default", *REGIMES) for name, value in
         (("leverage", 10.0), ("position_size", 0.5), ("stop_loss", 0.1))]
    )  # fmt: skip
    context = build_context(
        load_trades(sample / "trades.csv").frame, load_market(sample / "prices"), reckless, IN_PROCESS, seed=3
    )
    assert context.replay.baseline()["max_drawdown"] < -0.95
    tuner = RiskRatioTuner(trials=5)
    result = run_tuners([tuner], context)
    assert not any("could not run" in o.reason for o in result.outcomes if isinstance(o, NoProposal))
    assert tuner.searches_ and all(search.n_trials == 5 for search in tuner.searches_.values())


def test_the_drawdown_floor_stays_a_drawdown() -> None:
    assert drawdown_floor(-0.30, 0.05) == pytest.approx(-0.35)
    assert drawdown_floor(-0.98, 0.05) == -1.0
    assert drawdown_floor(0.0, -0.1) == 0.0
