"""The embedded sample: deterministic, valid, self-consistent, and carrying the structure it claims."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.market import load_market
from framework.playbook import load_playbook
from framework.replay.engine import replay
from framework.sample import PLANTED_DIRECTIONS, write_sample
from framework.trades import load_signals, load_trades

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], Path]:
    root = tmp_path_factory.mktemp("samples")
    return {
        (seed, structure): write_sample(root / f"{seed}-{structure}", seed=seed, structure=structure).directory
        for seed in SEEDS
        for structure in (True, False)
    }


def _trades(directory: Path) -> pd.DataFrame:
    frame = load_trades(directory / "trades.csv").frame
    frame["margin_return"] = frame["pnl"] / frame["stake"]
    return frame


def test_same_seed_gives_identical_files(tmp_path: Path, samples: dict[tuple[int, bool], Path]) -> None:
    again = write_sample(tmp_path / "again", seed=1).directory
    for name in ("trades.csv", "signals.csv", "playbook.yaml", "truth.json", "prices/ALPHA_USDT-5m.feather"):
        assert (again / name).read_bytes() == (samples[(1, True)] / name).read_bytes(), name
    assert (samples[(2, True)] / "trades.csv").read_bytes() != (samples[(1, True)] / "trades.csv").read_bytes()


def test_sample_is_a_complete_valid_working_set(samples: dict[tuple[int, bool], Path]) -> None:
    directory = samples[(1, True)]
    trades = load_trades(directory / "trades.csv").frame
    signals = load_signals(directory / "signals.csv").frame
    playbook = load_playbook(directory / "playbook.yaml")
    market = load_market(directory / "prices")
    assert market.symbols() == ["ALPHA/USDT", "BRAVO/USDT", "CHARLIE/USDT"]
    assert len(trades) > 800
    assert set(trades["strategy"]) == {"momentum", "mean_reversion"}
    assert set(trades["regime"].dropna()) == {"trending_up", "trending_down", "ranging", "volatile"}
    # every trade came from a taken signal; signals below the regime's threshold were not taken
    assert set(trades["trade_id"]) <= set(signals.loc[signals["taken"], "trade_id"])
    thresholds = signals["regime"].map(
        lambda r: playbook.parameters_for(None if pd.isna(r) else r).confidence_threshold
    )
    assert (signals["taken"] == (signals["confidence"] >= thresholds)).all()
    assert (~signals["taken"]).sum() > 100
    truth = json.loads((directory / "truth.json").read_text())
    assert truth["planted_directions"] == PLANTED_DIRECTIONS


def test_replaying_the_sample_under_its_playbook_gives_back_the_logged_exits(
    samples: dict[tuple[int, bool], Path],
) -> None:
    directory = samples[(2, True)]
    trades = _trades(directory)
    result = replay(
        trades,
        load_market(directory / "prices"),
        load_playbook(directory / "playbook.yaml"),
        ReplaySettings(),
    )
    assert result["taken"].all()
    assert (result["exit_time"].to_numpy() == trades["exit_time"].to_numpy()).all()
    assert np.array_equal(result["exit_price"].to_numpy(), trades["exit_price"].to_numpy())
    assert (result["exit_reason"].to_numpy() == trades["exit_reason"].to_numpy()).all()
    np.testing.assert_allclose(result["return"], trades["margin_return"], rtol=0, atol=1e-12)


def _t_stat(values: pd.Series) -> float:
    return float(values.mean() / values.std(ddof=1) * np.sqrt(len(values)))


def test_momentum_confidence_carries_the_planted_edge_in_trending_regimes(
    samples: dict[tuple[int, bool], Path],
) -> None:
    for structure in (True, False):
        trades = pd.concat(_trades(samples[(seed, structure)]) for seed in SEEDS)
        trending = trades[trades["regime"].isin(["trending_up", "trending_down"]) & (trades["strategy"] == "momentum")]
        confident = trending.loc[trending["confidence"] >= 0.7, "margin_return"]
        doubtful = trending.loc[trending["confidence"] < 0.5, "margin_return"]
        if structure:
            assert _t_stat(confident) > 3, "confident trend trades should pay"
            assert confident.mean() > doubtful.mean() + 0.01
        else:
            assert abs(_t_stat(confident)) < 2, "with no structure there is nothing to find"


def test_trending_regimes_pay_on_average_only_with_structure(samples: dict[tuple[int, bool], Path]) -> None:
    """A positive expectancy with a Kelly leverage far above the playbook's: more leverage grows faster."""
    for structure in (True, False):
        trades = pd.concat(_trades(samples[(seed, structure)]) for seed in SEEDS)
        for regime in ("trending_up", "trending_down"):
            returns = trades.loc[trades["regime"] == regime, "margin_return"]
            if structure:
                assert _t_stat(returns) > 2, regime
            else:
                assert _t_stat(returns) < 2, regime


def test_momentum_outearns_mean_reversion_only_with_structure(samples: dict[tuple[int, bool], Path]) -> None:
    for structure in (True, False):
        trades = pd.concat(_trades(samples[(seed, structure)]) for seed in SEEDS)
        by_strategy = trades.groupby("strategy")["margin_return"].mean()
        gap = by_strategy["momentum"] - by_strategy["mean_reversion"]
        if structure:
            assert gap > 0.003
        else:
            assert abs(gap) < 0.003


@pytest.mark.parametrize("kwargs", [{"symbols": 0}, {"days": 1}])
def test_bad_sample_sizes_are_refused(tmp_path: Path, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        write_sample(tmp_path, **kwargs)
