"""A replay that contradicts the trade log says so: the playbook's levels end trades the bot held."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.config import FreqtradeImportSettings, ReplaySettings
from framework.freqtrade import read_trade_log
from framework.market import load_market
from framework.playbook import ParameterChange, Playbook, load_playbook, parse_playbook
from framework.regimes import label_trades
from framework.replay import replay
from framework.replay.contradictions import contradictions
from framework.sample import SampleSet, write_sample
from framework.trades import load_trades

SETTINGS = ReplaySettings()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample(tmp_path_factory.mktemp("contradictions"), days=20, symbols=2)


def replayed_against_log(trades_path: Path, prices: Path, playbook: Playbook) -> tuple[int, dict[str, int], str | None]:
    market = load_market(prices)
    log = read_trade_log(trades_path, FreqtradeImportSettings()).log.frame
    labelled = label_trades(log, market)
    found = contradictions(labelled, replay(labelled, market, playbook, SETTINGS))
    return found.taken, found.early, found.warning()


def test_the_playbook_the_bot_traded_with_contradicts_nothing(sample: SampleSet) -> None:
    taken, early, warning = replayed_against_log(sample.trades, sample.prices, load_playbook(sample.playbook))
    assert taken == len(load_trades(sample.trades).frame)
    assert early == {"stop_loss": 0, "take_profit": 0} and warning is None


def test_a_tighter_stop_than_the_bots_is_reported(sample: SampleSet) -> None:
    tighter = load_playbook(sample.playbook).with_changes([ParameterChange("default", "stop_loss", 0.005)])
    taken, early, warning = replayed_against_log(sample.trades, sample.prices, tighter)
    assert early["stop_loss"] > 0
    assert warning is not None and f"of {taken} trades the replay exits before the bot did" in warning


@pytest.mark.shared_data
def test_the_readme_playbook_contradicts_the_freqtrade_backtest(freqtrade_data: Path) -> None:
    readme = parse_playbook(
        "default:\n  leverage: 2\n  stop_loss: 0.02\n  risk_reward_ratio: 2\n"
        "  confidence_threshold: 0\n  position_size: 0.1\n"
    )
    export = freqtrade_data / "backtest_results" / "backtest-result.json"
    taken, early, warning = replayed_against_log(export, freqtrade_data, readme)
    assert taken == 179 and early["stop_loss"] > 0 and warning is not None
