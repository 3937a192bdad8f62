"""Work a tune does once: each symbol classified once, the replay prepared once, every window taking its
part of them with the results it would get computing its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import framework.regimes
import framework.replay.kernels
from framework.config import Settings
from framework.features import MarketBars
from framework.market import load_market
from framework.pipeline import TuneFiles, run_tune
from framework.playbook import load_playbook
from framework.regimes import RegimeLabels, label_trades
from framework.sample import SampleSet, write_sample
from framework.trades import load_signals, load_trades
from framework.tuning import build_context, tune_data
from framework.validation import plan_windows

FAST = {"tuner_options": {"risk_ratio": {"trials": 5}}, "validation": {"folds": 3, "spa_reps": 100}}
SYMBOLS = 2


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample(tmp_path_factory.mktemp("once"), seed=5, symbols=SYMBOLS, days=40)


def counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of ``module.name`` (a kernel every caller reaches through its module)."""
    calls: list[int] = []
    original = getattr(module, name)

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(module, name, counting)
    return calls


@pytest.mark.parametrize("with_signals", [False, True], ids=["trade log", "with a signal log"])
def test_a_tune_classifies_each_symbol_once_and_prepares_the_replay_once(
    sample: SampleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_signals: bool
) -> None:
    classified = counted(monkeypatch, framework.regimes, "_classify_nb")  # classify's only kernel
    prepared = counted(monkeypatch, framework.replay.kernels, "build_trees")  # once per prepare
    signals = sample.signals if with_signals else None
    files = TuneFiles(sample.trades, sample.prices, sample.playbook, signals, tmp_path / "store.sqlite")
    outcome = run_tune(files, Settings.model_validate(FAST | {"lookback_days": 365}))
    assert outcome.report.folds == 3  # several windows, each of which used to classify and prepare anew
    assert len(classified) == SYMBOLS
    assert len(prepared) == 1


def test_a_window_from_the_shared_data_is_the_window_computed_alone(sample: SampleSet) -> None:
    market = load_market(sample.prices)
    playbook = load_playbook(sample.playbook)
    settings = Settings.model_validate(FAST)
    labels = RegimeLabels(market)
    trades = label_trades(load_trades(sample.trades).frame, market, labels=labels)
    signals = load_signals(sample.signals).frame
    plan = plan_windows(trades, settings)
    shared = tune_data(pd.concat([plan.search, plan.holdout], ignore_index=True), signals, market, playbook, settings)
    train, _ = plan.folds[1]
    window = plan.search.iloc[train]
    inside = signals[signals["entry_time"].between(window["entry_time"].min(), window["entry_time"].max())]
    alone = build_context(window, market, playbook, settings, signals=inside)
    taken = build_context(window, market, playbook, settings, signals=inside, shared=shared)
    pd.testing.assert_frame_equal(taken.trades, alone.trades, check_exact=True)
    pd.testing.assert_frame_equal(taken.features.frame, alone.features.frame, check_exact=True)
    assert list(taken.replay.inputs.trade_id) == list(alone.replay.inputs.trade_id)
    assert any(str(t).startswith("signal:") for t in alone.replay.inputs.trade_id)  # untaken signals replayed
    change_sets: list[list[Any]] = [[]]
    pd.testing.assert_frame_equal(
        taken.replay.evaluate(change_sets), alone.replay.evaluate(change_sets), check_exact=True
    )


def test_market_features_are_causal_so_the_whole_candles_serve_every_window(sample: SampleSet) -> None:
    """A bar's market features from the whole candles equal those from the candles up to it."""
    market = load_market(sample.prices)
    symbol = market.symbols()[0]
    candles = market.for_symbol(symbol)
    whole, _, _ = MarketBars(RegimeLabels(market)).for_symbol(symbol)
    cut = len(candles.frame) // 2
    shorter = replace(market, candles={symbol: replace(candles, frame=candles.frame.iloc[:cut])})
    prefix, _, _ = MarketBars(RegimeLabels(shorter)).for_symbol(symbol)
    for name, values in prefix.items():
        np.testing.assert_array_equal(values, whole[name][:cut], err_msg=name)
