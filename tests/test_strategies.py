"""Built-in strategies and the strategy loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.errors import InputError
from framework.market import load_candles
from framework.sample import generate_candles
from framework.strategy import SIGNAL_COLUMNS, builtin_strategy_names, check_signals, load_strategy

USER_STRATEGY = """
import pandas as pd
from framework.strategy import Strategy

class AlwaysLong(Strategy):
    name = "always_long"

    def signals(self, candles):
        return pd.DataFrame(
            {"entry": 1, "confidence": 0.9, "forecast_return": 0.01, "exit_long": False, "exit_short": False},
            index=candles.index,
        )

class NotAStrategy:
    pass
"""


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    candles, _ = generate_candles(np.random.default_rng(11), 3000, structure=True)
    return candles


def test_builtins_are_found_by_name() -> None:
    assert builtin_strategy_names() == ["mean_reversion", "momentum"]


@pytest.mark.parametrize("name", ["momentum", "mean_reversion"])
def test_signals_are_causal_and_well_formed(name: str, synthetic: pd.DataFrame) -> None:
    strategy = load_strategy(name)
    full = check_signals(strategy, synthetic, strategy.signals(synthetic))
    assert list(full.columns) == list(SIGNAL_COLUMNS)
    assert (full["entry"] != 0).sum() > 20
    for cut in range(200, len(synthetic), 350):
        prefix = strategy.signals(synthetic.iloc[: cut + 1])
        pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1], check_exact=True)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["momentum", "mean_reversion"])
def test_builtins_run_on_real_candles(name: str, freqtrade_data: Path) -> None:
    candles = load_candles(freqtrade_data / "ETH_BTC-5m.feather").frame
    strategy = load_strategy(name)
    signals = check_signals(strategy, candles, strategy.signals(candles))
    entries = signals[signals["entry"] != 0]
    assert len(entries) > 10
    assert entries["confidence"].between(0, 1).all()


def test_user_strategy_loads_from_a_file(tmp_path: Path, synthetic: pd.DataFrame) -> None:
    path = tmp_path / "mine.py"
    path.write_text(USER_STRATEGY)
    strategy = load_strategy(f"{path}:AlwaysLong")
    assert strategy.name == "always_long"
    assert (strategy.signals(synthetic)["entry"] == 1).all()


def test_loader_errors_name_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(USER_STRATEGY)
    with pytest.raises(InputError, match="unknown strategy; built-in: mean_reversion, momentum"):
        load_strategy("trend_magic")
    with pytest.raises(InputError, match="is not a Strategy subclass"):
        load_strategy(f"{path}:NotAStrategy")
    with pytest.raises(InputError, match="strategy file not found"):
        load_strategy(f"{tmp_path / 'absent.py'}:X")


def test_check_signals_rejects_broken_output(synthetic: pd.DataFrame) -> None:
    strategy = load_strategy("momentum")
    signals = strategy.signals(synthetic)
    with pytest.raises(InputError, match="lack columns"):
        check_signals(strategy, synthetic, signals.drop(columns=["confidence"]))
    bad = signals.assign(confidence=np.where(signals["entry"] != 0, 1.5, 0.0))
    with pytest.raises(InputError, match=r"within \[0, 1\]"):
        check_signals(strategy, synthetic, bad)
