"""Signals the bot left out, as trades a lower threshold would take (framework.tuning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.market import load_market
from framework.playbook import load_playbook
from framework.regimes import label_trades
from framework.sample import write_sample
from framework.trades import load_signals, load_trades
from framework.tuning import untaken_signal_trades, with_untaken_signals


@pytest.fixture(scope="module")
def sample_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("untaken"), seed=3, days=20).directory


def test_a_signal_log_whose_signals_were_all_taken_adds_no_trades(sample_set: Path) -> None:
    # freqtrade's signal export of a run with no rejected signal is such a log
    market = load_market(sample_set / "prices")
    playbook = load_playbook(sample_set / "playbook.yaml")
    trades = label_trades(load_trades(sample_set / "trades.csv").frame, market)
    signals = load_signals(sample_set / "signals.csv").frame
    all_taken = signals.assign(taken=True)
    assert untaken_signal_trades(all_taken, market, playbook).empty
    assert len(with_untaken_signals(trades, all_taken, market, playbook)) == len(trades)
    assert len(untaken_signal_trades(signals, market, playbook)) > 0
