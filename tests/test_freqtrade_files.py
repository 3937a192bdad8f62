"""A freqtrade user's files read as they are: config.json, strategy settings (init-playbook) and the
signal export. The signal pickles are written by freqtrade's own writer (the dev extra installs freqtrade)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framework.config import FreqtradeImportSettings, Settings, load_settings
from framework.errors import InputError
from framework.freqtrade import load_freqtrade_config, read_signal_log, read_trade_log
from framework.freqtrade.config import apply_freqtrade_config, freqtrade_setup, read_json_text
from framework.playbook import parse_playbook

COMMAND = Path(sys.executable).parent / "playbook-tuner"

CONFIG_TEXT = """{
  // freqtrade allows comments
  "max_open_trades": 3,
  "stake_currency": "BTC",
  "stake_amount": 0.001, /* per trade,
     over two lines */
  "dry_run_wallet": 0.01,
  "fee": 0.0025,
  "timeframe": "5m",
  "trading_mode": "spot",
  "exchange": {"name": "Binance", "pair_whitelist": ["ETH/BTC", "LTC/BTC", "BNB/BTC",],},
  "url": "http://example.org//not/a/comment /* nor this */",
}
"""

STRATEGY_TEXT = """from freqtrade.strategy import IStrategy


class Base(IStrategy):
    stoploss = -0.10
    timeframe = "5m"
    trailing_stop_positive = compute()


class StrategyTestV3(Base):
    minimal_roi = {"40": 0.0, "30": 0.01, "20": 0.02, "0": 0.04}
    trailing_stop = True
    trailing_stop_positive = 0.02
    trailing_stop_positive_offset = 0.03
    trailing_only_offset_is_reached = True
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=300)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- config.json --------------------------------------------------------------------------------


def test_comments_and_trailing_commas_are_read_and_strings_kept() -> None:
    text = '{"a": "x//y/*z*/", // c\n "b": [1, 2,], /* d */ "c": {"e": 1,},}'
    assert read_json_text(text, "t") == {"a": "x//y/*z*/", "b": [1, 2], "c": {"e": 1}}


def test_config_values_and_the_candle_folder(tmp_path: Path) -> None:
    config = load_freqtrade_config(_write(tmp_path / "config.json", CONFIG_TEXT), userdir=tmp_path / "ud")
    assert (config.fee, config.stake_amount, config.initial_equity, config.timeframe) == (0.0025, 0.001, 0.01, "5m")
    assert config.pairs == ("ETH/BTC", "LTC/BTC", "BNB/BTC")
    assert config.datadir == tmp_path / "ud" / "data" / "binance"
    assert config.max_open_trades == 3


def test_freqtrade_values_go_over_defaults_and_our_explicit_keys_win(tmp_path: Path) -> None:
    config = load_freqtrade_config(_write(tmp_path / "config.json", CONFIG_TEXT))
    taken = apply_freqtrade_config(Settings(), config)
    assert (taken.settings.replay.fee, taken.settings.replay.initial_equity) == (0.0025, 0.01)
    assert taken.settings.replay.funding is False  # spot
    assert taken.statements[0].startswith(f"from freqtrade config {config.source}: fee 0.0025, initial_equity 0.01")
    toml = _write(tmp_path / "ours.toml", "[replay]\nfee = 0.001\n")
    kept = apply_freqtrade_config(load_settings(toml), config)
    assert kept.settings.replay.fee == 0.001
    assert kept.settings.replay.initial_equity == 0.01
    assert "kept against freqtrade config: fee 0.001 (set in our config; fee says 0.0025)" in kept.statements


def test_a_spot_config_leaves_the_leverage_tuner_out_and_rounds_to_price_ticks(tmp_path: Path) -> None:
    config = load_freqtrade_config(_write(tmp_path / "config.json", CONFIG_TEXT))
    taken = apply_freqtrade_config(Settings(), config)
    assert "leverage" in Settings().tuners
    assert "leverage" not in taken.settings.tuners
    assert taken.settings.replay.price_ticks == "candles"
    assert "spot: leverage 1 is the only value (no short, no funding); the leverage tuner is left out" in (
        taken.statements
    )
    toml = _write(tmp_path / "ours.toml", 'tuners = ["leverage"]\n[replay]\nprice_ticks = "none"\n')
    kept = apply_freqtrade_config(load_settings(toml), config)
    assert (kept.settings.tuners, kept.settings.replay.price_ticks) == (("leverage",), "none")


def test_no_fee_is_said_and_cross_margin_is_stated(tmp_path: Path) -> None:
    text = '{"trading_mode": "futures", "margin_mode": "cross", "exchange": {"name": "okx"}}'
    setup = freqtrade_setup(Settings(), _write(tmp_path / "c.json", text), None)
    assert setup.settings.replay.fee == Settings().replay.fee
    assert setup.settings.replay.funding is True
    assert any("unknown offline" in line for line in setup.statements)
    assert any("models isolated margin" in line for line in setup.statements)


def test_userdir_finds_its_config_and_says_when_there_is_none(tmp_path: Path) -> None:
    _write(tmp_path / "config.json", CONFIG_TEXT)
    setup = freqtrade_setup(Settings(), None, tmp_path)
    assert setup.config is not None and setup.config.datadir == tmp_path / "data" / "binance"
    with pytest.raises(InputError, match=r"no freqtrade config\.json in the userdir"):
        freqtrade_setup(Settings(), None, tmp_path / "empty")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('{"fee": "abc"}', "fee", "valid number"),
        ('{"trading_mode": "margin"}', "trading_mode", "'spot' or 'futures'"),
        ('{"margin_mode": "portfolio"}', "margin_mode", "isolated"),
        ('{"stake_amount": "lots"}', "stake_amount", "unlimited"),
        ('{"dry_run_wallet": {"USDT": 100}, "stake_currency": "BTC"}', "dry_run_wallet", "stake currency 'BTC'"),
    ],
)
def test_bad_config_values_name_the_key(tmp_path: Path, text: str, field: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_freqtrade_config(_write(tmp_path / "config.json", text))
    assert any(p.field == field and message in p.message for p in caught.value.problems), caught.value


def test_broken_and_missing_config_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="line 3, column 3"):
        load_freqtrade_config(_write(tmp_path / "broken.json", '{\n  "fee": 0.1\n  "x": 1}'))
    with pytest.raises(InputError, match="comment opened at line 2 is never closed"):
        load_freqtrade_config(_write(tmp_path / "open.json", '{\n /* "fee": 0.1\n}'))
    with pytest.raises(InputError, match="freqtrade config not found"):
        load_freqtrade_config(tmp_path / "absent.json")


def test_check_states_the_config_and_finds_its_candles(tmp_path: Path, freqtrade_data: Path) -> None:
    config = {**read_json_text(CONFIG_TEXT, "t"), "datadir": str(freqtrade_data)}
    path = _write(tmp_path / "config.json", json.dumps(config))
    result = run("check", "--freqtrade-config", str(path))
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert f"from freqtrade config {path}: fee 0.0025, initial_equity 0.01, price_ticks candles, funding off" in said
    assert "candles ETH/BTC 5m" in said
    assert "pairs of the freqtrade config with no candles" in said and "BNB/BTC" in said
    bad = run("check", "--freqtrade-config", str(_write(tmp_path / "bad.json", '{"fee": "x"}')))
    assert bad.returncode == 2 and "fee" in bad.stderr


def test_replay_starts_from_the_dry_run_wallet(tmp_path: Path, freqtrade_data: Path) -> None:
    config = {**read_json_text(CONFIG_TEXT, "t"), "datadir": str(freqtrade_data)}
    path = _write(tmp_path / "config.json", json.dumps(config))
    export = freqtrade_data / "backtest_results" / "backtest-result.json"
    playbook = tmp_path / "playbook.yaml"
    made = run("init-playbook", "--from-backtest", str(export), "-o", str(playbook))
    assert made.returncode == 0, made.stderr
    out = tmp_path / "metrics.json"
    args = ["replay", "--trades", str(export), "--playbook", str(playbook), "--freqtrade-config", str(path)]
    result = run(*args, "--json", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "initial equity 0.01," in (result.stdout + result.stderr)
    assert json.loads(out.read_text())["initial_equity"] == 0.01


# --- init-playbook ------------------------------------------------------------------------------


def test_init_playbook_from_the_export_and_the_strategy_file(tmp_path: Path, freqtrade_data: Path) -> None:
    export = freqtrade_data / "backtest_results" / "backtest-result.json"
    strategy = _write(tmp_path / "strat.py", STRATEGY_TEXT)
    playbook = tmp_path / "playbook.yaml"
    args = ["init-playbook", "--strategy", str(strategy), "--from-backtest", str(export), "-o", str(playbook)]
    result = run(*args)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    book = parse_playbook(playbook.read_text(), str(playbook))
    params = book.parameters_for(None)
    # the export's values win (stoploss 0.1, trailing off); its empty ROI table gives way to the strategy's
    assert (params.stop_loss, params.trailing_stop, params.leverage, params.position_size) == (0.1, False, 1.0, 0.1)
    assert params.minimal_roi == ((0, 0.04), (20, 0.02), (30, 0.01), (40, 0.0))
    assert params.risk_reward_ratio is None and params.confidence_threshold == 0.0
    assert "170 of its trades left by ROI: the table is taken from the strategy" in said
    assert "Base.trailing_stop_positive is computed, not a literal: not read" in said
    assert "minimal_roi {'40': 0.0, '30': 0.01, '20': 0.02, '0': 0.04} from strategy file strat.py" in said

    again = run(*args)
    assert again.returncode == 2 and "exists: pass --force" in again.stderr
    assert parse_playbook(playbook.read_text(), str(playbook)) == book  # unchanged
    assert run(*args, "--force").returncode == 0


def test_init_playbook_from_the_strategy_its_parameter_file_and_the_config(tmp_path: Path) -> None:
    strategies = tmp_path / "user_data" / "strategies"
    strategies.mkdir(parents=True)
    _write(strategies / "strat.py", STRATEGY_TEXT)
    params = {
        "strategy_name": "StrategyTestV3",
        "params": {"stoploss": {"stoploss": -0.3}, "trailing": {"trailing_stop_positive": 0.04}},
    }
    _write(strategies / "strat.json", json.dumps(params))
    config = {"stake_amount": "unlimited", "max_open_trades": 4, "dry_run_wallet": 1000, "minimal_roi": {"0": 0.05}}
    config_path = _write(tmp_path / "user_data" / "config.json", json.dumps(config))
    playbook = tmp_path / "playbook.yaml"
    trades = _futures_database(tmp_path / "tradesv3.sqlite", leverage=2.0)
    args = ["init-playbook", "--strategy", "StrategyTestV3", "--userdir", str(tmp_path / "user_data")]
    result = run(*args, "--trades", trades, "-o", playbook)
    assert result.returncode == 0, result.stdout + result.stderr
    values = parse_playbook(playbook.read_text()).parameters_for(None)
    assert values.leverage == 2.0
    assert values.stop_loss == pytest.approx(0.3 / 2)  # the parameter file over the class attribute, / leverage
    assert values.trailing_stop and values.trailing_stop_positive == pytest.approx(0.04 / 2)
    assert values.trailing_stop_positive_offset == pytest.approx(0.03 / 2)
    assert values.minimal_roi == ((0, 0.05),)  # the config over the strategy
    assert values.position_size == pytest.approx(0.99 / 4)  # unlimited: tradable_balance_ratio / max_open_trades
    assert "trailing_only_offset_is_reached = true is not modelled" in (result.stdout + result.stderr)
    assert f"from freqtrade config {config_path.name}" in (result.stdout + result.stderr)


def test_init_playbook_bad_input(tmp_path: Path) -> None:
    out = str(tmp_path / "p.yaml")
    unknown = run("init-playbook", "--strategy", "Nope", "--userdir", str(tmp_path), "-o", out)
    assert unknown.returncode == 2
    _write(tmp_path / "config.json", "{}")
    unknown = run("init-playbook", "--strategy", "Nope", "--userdir", str(tmp_path), "-o", out)
    assert unknown.returncode == 2 and "no file defines it" in unknown.stderr
    broken = _write(tmp_path / "broken.py", "class X(IStrategy:\n")
    result = run("init-playbook", "--strategy", str(broken), "-o", out)
    assert result.returncode == 2 and "not readable Python" in result.stderr
    no_stop = _write(tmp_path / "nostop.py", "class S(IStrategy):\n    timeframe = '5m'\n")
    result = run("init-playbook", "--strategy", str(no_stop), "-o", out)
    assert result.returncode == 2 and "no stoploss found" in result.stderr
    assert not Path(out).exists()


def _futures_database(path: Path, *, leverage: float) -> Path:
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE trades (id INTEGER, pair TEXT, is_open BOOLEAN, is_short BOOLEAN, leverage FLOAT, "
            "open_date TEXT, close_date TEXT, open_rate FLOAT, close_rate FLOAT, exit_reason TEXT, strategy TEXT)"
        )
        for n in range(3):
            db.execute(
                "INSERT INTO trades VALUES (?, 'BTC/USDT:USDT', 0, 0, ?, ?, ?, 100.0, 101.0, 'roi', 'StrategyTestV3')",
                (n + 1, leverage, f"2024-01-0{n + 1} 00:00:00", f"2024-01-0{n + 1} 01:00:00"),
            )
    return path


# --- signals ------------------------------------------------------------------------------------

_WRITE_SIGNALS = """
import sys
from pathlib import Path
import pandas as pd
from freqtrade.optimize.optimize_reports.bt_storage import file_dump_joblib

stem = Path(sys.argv[1])
dates = pd.to_datetime(["2018-01-10 07:10:00", "2018-01-10 08:00:00"], utc=True)
taken = {"StrategyTestV3": {
    "TRX/BTC": pd.DataFrame({"date": dates[:1], "close": [9.64e-05], "enter_long": [1], "enter_short": [0],
                             "confidence": [0.8]}),
    "ETH/BTC": pd.DataFrame(),
}}
rejected = {"StrategyTestV3": {
    "ETH/BTC": pd.DataFrame({"date": dates[1:], "close": [0.09], "enter_long": [1], "confidence": [65.0],
                             "pair": ["ETH/BTC"], "enter_tag": [None]}),
}}
for name, data in (("signals", taken), ("rejected", rejected)):
    with stem.with_name(f"{stem.name}_{name}.pkl").open("wb") as handle:
        file_dump_joblib(handle, data)
"""


@pytest.fixture
def freqtrade_signals(tmp_path: Path, freqtrade_backtests: Path) -> Path:
    """freqtrade's backtest export beside the signal pickles freqtrade's own writer made (in a child
    process, so freqtrade is never imported into the tests' own)."""
    export = shutil.copy(freqtrade_backtests / "backtest_results" / "backtest-result.json", tmp_path / "bt.json")
    subprocess.run([sys.executable, "-c", _WRITE_SIGNALS, str(tmp_path / "bt")], check=True)
    assert Path(export).is_file()
    return tmp_path / "bt_signals.pkl"


def test_signal_export_becomes_a_signal_log(freqtrade_signals: Path) -> None:
    settings = FreqtradeImportSettings()
    trades = read_trade_log(freqtrade_signals.with_name("bt.json"), settings).log.frame
    frame = read_signal_log(freqtrade_signals, settings, trades=trades).log.frame.set_index("symbol")
    taken, rejected = frame.loc["TRX/BTC"], frame.loc["ETH/BTC"]
    assert bool(taken["taken"]) and taken["trade_id"] == "StrategyTestV3-1"  # the export's first trade
    assert str(taken["entry_time"]) == "2018-01-10 07:15:00+00:00"  # one 5m candle after the signal candle
    assert (taken["confidence"], rejected["confidence"]) == (0.8, 0.65)  # 65 read as percent
    assert not bool(rejected["taken"]) and rejected["entry_price"] == 0.09


def test_signal_export_without_a_confidence_column_uses_the_constant(freqtrade_signals: Path) -> None:
    settings = FreqtradeImportSettings(confidence_column="score", confidence=0.5)
    read = read_signal_log(freqtrade_signals, settings)
    assert read.log.frame["confidence"].tolist() == [0.5, 0.5]
    assert read.warnings[0].startswith("no 'score' column in the signal candles: using constant 0.5")


def test_check_reads_the_signal_export_and_refuses_a_bad_pickle(freqtrade_signals: Path, tmp_path: Path) -> None:
    export = freqtrade_signals.with_name("bt.json")
    result = run("check", "--trades", str(export), "--signals", str(freqtrade_signals))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "taken 1 of 2 signals" in (result.stdout + result.stderr)
    bad = _write(tmp_path / "x_signals.pkl", "not a pickle")
    result = run("check", "--signals", str(bad))
    assert result.returncode == 2 and "not a readable freqtrade signal pickle" in result.stderr


def test_the_trades_keep_their_own_fees(freqtrade_data: Path) -> None:
    export = freqtrade_data / "backtest_results" / "backtest-result.json"
    frame = read_trade_log(export, FreqtradeImportSettings()).log.frame
    assert frame["fee_open"].eq(0.0025).all() and frame["fee_close"].eq(0.0025).all()
