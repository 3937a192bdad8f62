"""framework.freqtrade_strategy.PlaybookStrategyMixin in real freqtrade backtests (tests/freqtrade_harness).

The mixin must reproduce freqtrade's own stop, trailing and ROI exits trade for trade when the playbook
says what a plain strategy's attributes say, apply each regime's parameters at entry, and keep an open
trade's parameters across a new playbook version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from framework.playbook import load_playbook
from tests.freqtrade_harness import export_signals, export_trades, run_backtest
from tests.freqtrade_harness.__main__ import NETWORK_ATTEMPT

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "strategies" / "freqtrade_example.py"
TEST_STRATEGIES = ROOT / "tests" / "freqtrade_strategies"
SAME_TRADE = ["pair", "open_date", "close_date", "open_rate", "close_rate", "exit_reason", "initial_stop_loss_ratio"]


ROI = {"0": 0.03, "30": 0.015, "120": 0.0}


def _playbook(folder: Path, name: str, default: str, regimes: str = "") -> Path:
    path = folder / name
    text = "default:\n  risk_reward_ratio:\n  leverage: 1.0\n  position_size: 0.2\n" + default
    path.write_text(text + (f"regimes:\n{regimes}" if regimes else ""))
    load_playbook(path)  # a valid playbook, or the test's own mistake shows here
    return path


def _sorted(trades: pd.DataFrame) -> pd.DataFrame:
    return trades.sort_values(["pair", "open_date"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("playbook_lines", "freqtrade_config"),
    [
        (
            "  stop_loss: 0.03\n  confidence_threshold: 0.0\n"
            "  minimal_roi:\n    0: 0.03\n    30: 0.015\n    120: 0.0\n",
            {"stoploss": -0.03, "minimal_roi": ROI},
        ),
        (
            "  stop_loss: 0.03\n  confidence_threshold: 0.0\n  trailing_stop: true\n  trailing_stop_positive: 0.01\n"
            "  trailing_stop_positive_offset: 0.02\n  minimal_roi:\n    0: 0.05\n",
            {
                "stoploss": -0.03,
                "minimal_roi": {"0": 0.05},
                "trailing_stop": True,
                "trailing_stop_positive": 0.01,
                "trailing_stop_positive_offset": 0.02,
                "trailing_only_offset_is_reached": False,
            },
        ),
        (
            "  stop_loss: 0.02\n  confidence_threshold: 0.0\n  trailing_stop: true\n",
            {"stoploss": -0.02, "minimal_roi": {"0": 10.0}, "trailing_stop": True},
        ),
    ],
    ids=["stop-and-roi", "trailing-positive-offset", "trailing-plain"],
)
def test_the_mixin_exits_as_freqtrade_itself_does(
    freqtrade_backtests: Path, tmp_path: Path, playbook_lines: str, freqtrade_config: dict
) -> None:
    playbook = _playbook(tmp_path, "playbook.yaml", playbook_lines)
    ours = export_trades(run_backtest(EXAMPLE, folder=tmp_path / "mixin", playbook_path=playbook))
    plain = export_trades(
        run_backtest(
            TEST_STRATEGIES / "plain.py",
            folder=tmp_path / "plain",
            strategy_class="Plain",
            config_overrides=freqtrade_config,
        )
    )
    assert len(plain) > 20
    pd.testing.assert_frame_equal(_sorted(ours)[SAME_TRADE], _sorted(plain)[SAME_TRADE])


@pytest.mark.slow
def test_two_playbook_versions_trade_as_they_say(freqtrade_backtests: Path, tmp_path: Path) -> None:
    strict = _playbook(
        tmp_path,
        "v1.yaml",
        "  stop_loss: 0.05\n  confidence_threshold: 0.8\n  minimal_roi:\n    0: 0.015\n",
        "  volatile:\n    stop_loss: 0.04\n    confidence_threshold: 0.9\n",
    )
    loose = _playbook(
        tmp_path,
        "v2.yaml",
        "  stop_loss: 0.01\n  confidence_threshold: 0.4\n  minimal_roi:\n    0: 0.03\n",
        "  volatile:\n    stop_loss: 0.008\n    confidence_threshold: 0.5\n",
    )
    runs = {}
    for name, path in (("v1", strict), ("v2", loose)):
        export = run_backtest(EXAMPLE, folder=tmp_path / name, playbook_path=path, export="signals")
        runs[name] = (load_playbook(path), export_trades(export), export_signals(export))

    for playbook, trades, signals in runs.values():
        assert len(signals) == len(trades) > 5
        # the signal candle closes when the trade opens: its regime and confidence decide
        signals["entry"] = signals["date"] + pd.Timedelta("5min")
        entries = trades.merge(signals, left_on=["pair", "open_date"], right_on=["pair", "entry"], how="left")
        assert entries["date"].notna().all()
        for row in entries.itertuples():
            regime = None if pd.isna(row.regime) else row.regime
            parameters = playbook.parameters_for(regime)
            assert row.confidence >= parameters.confidence_threshold
            assert row.initial_stop_loss_ratio == pytest.approx(-parameters.stop_loss)
        total = trades["stake_amount"].iloc[0] / playbook.parameters_for(entries["regime"].iloc[0]).position_size
        assert total == pytest.approx(1.0, rel=1e-3)  # the first trade: 1 BTC of equity, none at stake yet

    v1, v2 = runs["v1"][1], runs["v2"][1]
    assert len(v2) > len(v1)  # the lower thresholds admit more signals
    share = {name: trades["exit_reason"].value_counts(normalize=True) for name, (_, trades, _) in runs.items()}
    assert share["v1"].get("roi", 0) > 0.5 > share["v2"].get("roi", 0)  # a tight stop ends trades before ROI
    assert share["v2"].get("stop_loss", 0) > share["v1"].get("stop_loss", 0)
    # freqtrade's ROI ratio is the profit after both fees: an ROI exit inside a candle earns 1.5 % net
    # (a little less by the price's rounding), one at a higher open more
    roi_profits = v1.loc[v1["exit_reason"] == "roi", "profit_ratio"]
    assert roi_profits.min() == pytest.approx(0.015, abs=3e-4)


@pytest.mark.slow
@pytest.mark.parametrize("reapply", [False, True])
def test_a_new_version_reaches_new_trades_and_open_ones_keep_theirs(
    freqtrade_backtests: Path, tmp_path: Path, reapply: bool
) -> None:
    live = _playbook(
        tmp_path, "live.yaml", "  stop_loss: 0.05\n  confidence_threshold: 0.4\n  minimal_roi:\n    0: 0.05\n"
    )
    next_version = _playbook(
        tmp_path, "next.yaml", "  stop_loss: 0.2\n  confidence_threshold: 0.4\n  minimal_roi:\n    0: 0.05\n"
    )
    v1, v2 = load_playbook(live).sha256(), load_playbook(next_version).sha256()
    record = tmp_path / "exits.jsonl"
    publish_at = pd.Timestamp("2018-01-20T00:00:00Z")
    config = {
        "reload_test": {
            "publish_at": publish_at.isoformat(),
            "store": str(tmp_path / "store.sqlite"),
            "next_playbook": str(next_version),
            "record": str(record),
        }
    }
    export = run_backtest(
        TEST_STRATEGIES / "reloading.py",
        folder=tmp_path / "run",
        playbook_path=live,
        strategy_class="Reloading" if not reapply else "ReloadingReapplied",
        config_overrides=config,
    )
    trades = export_trades(export)
    exits = pd.DataFrame([json.loads(line) for line in record.read_text().splitlines()])
    exits["open"] = pd.to_datetime(exits["open"], utc=True)
    exits["close"] = pd.to_datetime(exits["close"], utc=True)
    assert len(exits) == (trades["exit_reason"] != "force_exit").sum()  # the last candle's exits skip the callback
    before = exits[exits["close"] < publish_at]
    after = exits[exits["open"] >= publish_at]
    across = exits[(exits["open"] < publish_at) & (exits["close"] >= publish_at)]
    assert len(before) > 0 and len(after) > 0 and len(across) > 0
    assert set(before["version"]) == {v1}
    assert set(after["version"]) == {v2}
    assert set(across["version"]) == ({v2} if reapply else {v1})
    opened_after = trades[trades["open_date"] >= publish_at]
    assert opened_after["initial_stop_loss_ratio"].tolist() == pytest.approx([-0.2] * len(opened_after))


def test_the_harness_refuses_the_network() -> None:
    """Every backtest above ran under this hook (and unreachable proxies): none tried to connect."""
    attempt = (
        "import socket, sys; from tests.freqtrade_harness.__main__ import _refuse_network; "
        "sys.addaudithook(_refuse_network); socket.create_connection(('127.0.0.1', 9), timeout=1)"
    )
    completed = subprocess.run([sys.executable, "-c", attempt], cwd=ROOT, capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert f"{NETWORK_ATTEMPT}: socket." in completed.stderr
