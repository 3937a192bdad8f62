"""Funding on futures trades, with freqtrade's own funding-rate file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.market import load_market
from framework.playbook import parse_playbook
from framework.replay import replay
from framework.trades import validate_trades

PLAYBOOK = parse_playbook(
    "default:\n  leverage: 3.0\n  stop_loss: 0.2\n  risk_reward_ratio: 5.0\n"
    "  confidence_threshold: 0.0\n  position_size: 0.1\n  max_hold:\n"
)


@pytest.mark.shared_data
def test_funding_is_charged_for_every_funding_time_a_trade_spans(freqtrade_data: Path) -> None:
    market = load_market(freqtrade_data / "futures")
    symbol = "XRP/USDT:USDT"
    candles = market.for_symbol(symbol).frame
    funding = market.funding[symbol].frame["open"]
    entry, exit_ = pd.Timestamp("2021-11-18 03:00", tz="UTC"), pd.Timestamp("2021-11-20 05:00", tz="UTC")
    trades = validate_trades(
        pd.DataFrame(
            {
                "trade_id": ["long", "short"],
                "symbol": symbol,
                "side": ["long", "short"],
                "entry_time": entry,
                "entry_price": candles.loc[entry, "open"],
                "exit_time": exit_,
                "exit_price": candles.loc[exit_, "open"],
                "confidence": 0.9,
                "exit_reason": "signal",
            }
        ),
        source="funding test",
    ).frame
    charged = replay(trades, market, PLAYBOOK, ReplaySettings())
    free = replay(trades, market, PLAYBOOK, ReplaySettings(funding=False))
    assert (charged["exit_reason"] == "signal").all()
    paid = funding[(funding.index > entry) & (funding.index <= exit_)]
    assert len(paid) == 6  # funding every 8 hours over a 2-day hold
    difference = (charged["return"] - free["return"]).to_numpy()
    np.testing.assert_allclose(difference, [-3.0 * paid.sum(), 3.0 * paid.sum()], rtol=0, atol=1e-15)
