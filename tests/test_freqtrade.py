"""Importing freqtrade histories: its database as freqtrade writes it, and its backtest exports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.config import FreqtradeImportSettings
from framework.errors import InputError
from framework.freqtrade import import_freqtrade, read_trade_log
from framework.trades import TRADE_COLUMNS, load_trades, write_log
from tests.conftest import REAL_PLAYBOOK

DEFAULTS = FreqtradeImportSettings()

# The columns of freqtrade's `trades` table that the importer reads, plus two it ignores.
DB_COLUMNS = (
    "id, exchange, pair, is_open, is_short, leverage, open_date, close_date, open_rate, close_rate, amount, "
    "stake_amount, close_profit, close_profit_abs, stop_loss, stop_loss_pct, initial_stop_loss_pct, "
    "exit_reason, enter_tag, strategy, timeframe, fee_open, fee_close, min_rate, max_rate"
)
DB_ROWS: list[tuple[Any, ...]] = [
    # id, exchange, pair, is_open, is_short, leverage, open_date, close_date, open_rate, close_rate, amount,
    # stake_amount, close_profit, close_profit_abs, stop_loss, stop_loss_pct, initial_stop_loss_pct,
    # exit_reason, enter_tag, strategy, timeframe, fee_open, fee_close, min_rate, max_rate
    (1, "binance", "BTC/USDT:USDT", 0, 0, 1.0, "2024-01-01 00:00:00", "2024-01-01 02:30:00.500000",
     40000.0, 41000.0, 0.01, 400.0, 0.025, 9.2, 38000.0, -0.05, -0.05, "roi", "conf=80", "Trend", 5,
     0.0005, 0.0005, 39800.0, 41100.0),
    (2, "binance", "ETH/USDT:USDT", 0, 1, 3.0, "2024-01-01 01:00:00", "2024-01-01 04:00:00",
     2000.0, 1900.0, 1.5, 1000.0, 0.15, 148.0, 2100.0, -0.05, -0.05, "trailing_stop_loss", "conf=0.65",
     "Trend", 5, 0.0005, 0.0005, 1890.0, 2010.0),
    (3, "binance", "SOL/USDT:USDT", 0, 0, 1.0, "2024-01-02 00:00:00", "2024-01-03 00:00:00",
     100.0, 95.0, 2.0, 200.0, -0.05, -10.2, 90.0, -0.1, -0.1, "exit_signal", None, "Trend", 60,
     0.001, 0.001, 94.0, 101.0),
    (4, "binance", "BTC/USDT:USDT", 1, 0, 1.0, "2024-01-04 00:00:00", None,
     42000.0, None, 0.01, 420.0, None, None, 40000.0, -0.05, -0.05, None, "conf=70", "Trend", 5,
     0.0005, None, 41900.0, 42100.0),
]  # fmt: skip


FIELDS = [name.strip() for name in DB_COLUMNS.split(",")]


def changed(row: tuple[Any, ...], **values: Any) -> tuple[Any, ...]:
    """``row`` with some fields (by freqtrade column name) replaced."""
    return tuple(values.get(name, value) for name, value in zip(FIELDS, row, strict=True))


def make_database(path: Path, rows: list[tuple[Any, ...]] = DB_ROWS) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE trades ({DB_COLUMNS})")
        connection.execute("CREATE TABLE orders (id INTEGER)")
        marks = ", ".join("?" * len(rows[0]))
        connection.executemany(f"INSERT INTO trades VALUES ({marks})", rows)
    return path


# --- database ----------------------------------------------------------------------------------


def test_database_import_maps_every_field(tmp_path: Path) -> None:
    result = import_freqtrade(make_database(tmp_path / "tradesv3.sqlite"), DEFAULTS)
    frame = result.log.frame.set_index("trade_id")

    assert list(result.log.frame.columns) == list(TRADE_COLUMNS)
    assert frame.index.tolist() == ["1", "2", "3"]  # the open trade 4 is skipped
    assert "skipped 1 open trades (only closed trades are imported)" in result.warnings
    assert "no confidence in freqtrade trades: using constant 1.0 for all 3 trades" in result.warnings

    long_trade = frame.loc["1"]
    assert long_trade["symbol"] == "BTC/USDT:USDT"
    assert long_trade["side"] == "long"
    assert long_trade["entry_time"] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert long_trade["exit_time"] == pd.Timestamp("2024-01-01T02:30:00.5Z")
    assert (long_trade["entry_price"], long_trade["exit_price"]) == (40000.0, 41000.0)
    assert long_trade["exit_reason"] == "roi"
    assert (long_trade["stake"], long_trade["pnl"], long_trade["stop_loss"]) == (400.0, 9.2, 38000.0)
    assert pd.isna(long_trade["take_profit"])
    assert long_trade["fees"] == pytest.approx(0.01 * 40000 * 0.0005 + 0.01 * 41000 * 0.0005)
    assert (long_trade["fee_open"], long_trade["fee_close"]) == (0.0005, 0.0005)  # the replay's fees per trade
    assert (long_trade["min_rate"], long_trade["max_rate"]) == (39800.0, 41100.0)
    assert (long_trade["strategy"], long_trade["timeframe"], long_trade["confidence"]) == ("Trend", "5m", 1.0)

    short_trade = frame.loc["2"]
    assert (short_trade["side"], short_trade["leverage"]) == ("short", 3.0)
    assert short_trade["exit_reason"] == "stop_loss"  # trailing_stop_loss
    assert short_trade["stop_loss"] == 2100.0

    assert frame.loc["3", "exit_reason"] == "signal"
    assert frame.loc["3", "timeframe"] == "1h"


def test_confidence_from_enter_tag(tmp_path: Path) -> None:
    settings = FreqtradeImportSettings(confidence=0.5, confidence_tag_pattern=r"conf=([0-9.]+)")
    result = import_freqtrade(make_database(tmp_path / "tradesv3.sqlite"), settings)
    confidence = result.log.frame.set_index("trade_id")["confidence"].to_dict()
    assert confidence == {"1": 0.8, "2": 0.65, "3": 0.5}  # 80 is percent; trade 3 has no tag
    assert any("1 of 3 trades have no confidence in enter_tag" in warning for warning in result.warnings)
    assert not any("for all" in warning for warning in result.warnings)


def test_enter_tag_confidence_outside_range_is_an_error(tmp_path: Path) -> None:
    rows = [changed(DB_ROWS[0], enter_tag="conf=150")]
    path = make_database(tmp_path / "tradesv3.sqlite", rows)
    settings = FreqtradeImportSettings(confidence_tag_pattern=r"conf=([0-9.]+)")
    with pytest.raises(InputError) as caught:
        import_freqtrade(path, settings)
    assert caught.value.problems[0].field == "enter_tag"
    assert "trade 1: enter_tag 'conf=150' gives confidence '150'" in str(caught.value)


@pytest.mark.parametrize(("pattern", "expected"), [("conf=([0-9.]+", "not a regular expression"), ("conf", "group")])
def test_bad_tag_pattern_is_an_error(tmp_path: Path, pattern: str, expected: str) -> None:
    path = make_database(tmp_path / "tradesv3.sqlite")
    with pytest.raises(InputError) as caught:
        import_freqtrade(path, FreqtradeImportSettings(confidence_tag_pattern=pattern))
    assert caught.value.problems[0].field == "freqtrade.confidence_tag_pattern"
    assert expected in str(caught.value)


def test_database_strategy_filter(tmp_path: Path) -> None:
    rows = [*DB_ROWS[:2], changed(DB_ROWS[2], strategy="Other")]
    path = make_database(tmp_path / "tradesv3.sqlite", rows)
    assert import_freqtrade(path, DEFAULTS, strategy="Other").log.frame["trade_id"].tolist() == ["3"]
    with pytest.raises(InputError, match=r"no trades of strategy 'Nope' \(strategies: Other, Trend\)"):
        import_freqtrade(path, DEFAULTS, strategy="Nope")


def test_database_without_freqtrade_columns_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trades (trade_id TEXT, symbol TEXT)")
        connection.execute("INSERT INTO trades VALUES ('1', 'BTC/USDT')")
    with pytest.raises(InputError) as caught:
        import_freqtrade(path, DEFAULTS)
    assert {p.field for p in caught.value.problems} >= {"id", "pair", "open_date"}
    assert "columns found: trade_id, symbol" in str(caught.value)


def test_database_missing_trades_table(tmp_path: Path) -> None:
    path = tmp_path / "tradesv3.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(InputError, match=r"no table 'trades' in this database \(tables: orders\)"):
        import_freqtrade(path, DEFAULTS)


def test_round_trip_through_csv(tmp_path: Path) -> None:
    imported = import_freqtrade(make_database(tmp_path / "tradesv3.sqlite"), DEFAULTS).log.frame
    write_log(imported, tmp_path / "trades.csv")
    pd.testing.assert_frame_equal(load_trades(tmp_path / "trades.csv").frame, imported)


# --- backtest exports --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backtest_results(shared_data: Path) -> Path:
    return shared_data / "freqtrade" / "backtest_results"


@pytest.mark.shared_data
def test_backtest_export(backtest_results: Path) -> None:
    path = backtest_results / "backtest-result.json"
    result = import_freqtrade(path, DEFAULTS)
    frame = result.log.frame
    raw = json.loads(path.read_text())["strategy"]["StrategyTestV3"]["trades"]

    assert len(frame) == 179
    assert result.warnings == ("no confidence in freqtrade trades: using constant 1.0 for all 179 trades",)
    assert frame["exit_reason"].value_counts().to_dict() == {"roi": 170, "stop_loss": 6, "signal": 3}
    assert set(frame["strategy"]) == {"StrategyTestV3"} and set(frame["timeframe"]) == {"5m"}
    assert set(frame["side"]) == {"long"} and set(frame["leverage"]) == {1.0}
    assert frame["entry_time"].is_monotonic_increasing

    first = frame.set_index("trade_id").loc["StrategyTestV3-1"]
    trade = raw[0]
    assert first["symbol"] == trade["pair"]
    assert first["entry_time"] == pd.Timestamp(trade["open_date"])
    assert (first["entry_price"], first["exit_price"]) == (trade["open_rate"], trade["close_rate"])
    assert (first["stake"], first["pnl"], first["stop_loss"]) == (
        trade["stake_amount"],
        trade["profit_abs"],
        trade["stop_loss_abs"],
    )
    expected_fees = trade["amount"] * (
        trade["open_rate"] * trade["fee_open"] + trade["close_rate"] * trade["fee_close"]
    )
    assert first["fees"] == pytest.approx(expected_fees, rel=1e-12)
    assert (first["min_rate"], first["max_rate"]) == (trade["min_rate"], trade["max_rate"])


@pytest.mark.shared_data
def test_multistrategy_export_with_and_without_strategy(backtest_results: Path) -> None:
    path = backtest_results / "backtest-result_multistrat.json"
    both = import_freqtrade(path, DEFAULTS)
    assert len(both.log.frame) == 358
    assert both.log.frame["strategy"].value_counts().to_dict() == {"StrategyTestV2": 179, "TestStrategy": 179}
    assert any("2 strategies: StrategyTestV2 (179), TestStrategy (179)" in w for w in both.warnings)

    one = import_freqtrade(path, DEFAULTS, strategy="TestStrategy")
    assert len(one.log.frame) == 179
    assert set(one.log.frame["strategy"]) == {"TestStrategy"}
    assert one.log.frame["trade_id"].str.startswith("TestStrategy-").all()

    with pytest.raises(InputError, match=r"strategies: StrategyTestV2, TestStrategy"):
        import_freqtrade(path, DEFAULTS, strategy="Missing")


@pytest.mark.shared_data
def test_zip_export_equals_json(backtest_results: Path, tmp_path: Path) -> None:
    source = backtest_results / "backtest-result.json"
    archive_path = tmp_path / "backtest-result-2024-01-01_00-00-00.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("backtest-result-2024-01-01_00-00-00_config.json", '{"strategy": {}}')
        archive.write(source, "backtest-result-2024-01-01_00-00-00.json")
        archive.write(backtest_results / "backtest-result.meta.json", "backtest-result-2024-01-01_00-00-00.meta.json")
        archive.writestr("backtest-result-2024-01-01_00-00-00_market_change.feather", b"\x00\x01")
    from_zip = import_freqtrade(archive_path, DEFAULTS).log
    pd.testing.assert_frame_equal(from_zip.frame, import_freqtrade(source, DEFAULTS).log.frame)
    assert from_zip.source.endswith("[backtest-result-2024-01-01_00-00-00.json]")


@pytest.mark.shared_data
def test_export_round_trip_through_csv(backtest_results: Path, tmp_path: Path) -> None:
    imported = import_freqtrade(backtest_results / "backtest-result.json", DEFAULTS).log.frame
    write_log(imported, tmp_path / "trades.csv")
    pd.testing.assert_frame_equal(load_trades(tmp_path / "trades.csv").frame, imported)


def test_zip_without_backtest_result_lists_members(tmp_path: Path) -> None:
    path = tmp_path / "results.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("run.meta.json", "{}")
        archive.writestr("notes.txt", "hello")
    with pytest.raises(InputError, match=r"no backtest result in this zip \(members: run.meta.json, notes.txt\)"):
        import_freqtrade(path, DEFAULTS)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("result.json", b"{not json", "not valid JSON"),
        ("result.json", b'{"trades": []}', "not a freqtrade backtest result"),
        ("result.zip", b"not a zip", "not a readable zip archive"),
        ("result.csv", b"a,b", "unknown file type"),
    ],
)
def test_unreadable_exports_are_errors(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        import_freqtrade(path, DEFAULTS)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_export_with_open_trades_and_old_field_names(tmp_path: Path) -> None:
    trade = {
        "pair": "ADA/BTC",
        "open_date": "2018-01-10 07:15:00+00:00",
        "close_date": "2018-01-10 08:15:00+00:00",
        "open_rate": 1e-05,
        "close_rate": 1.1e-05,
        "amount": 100.0,
        "stake_amount": 0.001,
        "fee_open": 0.001,
        "fee_close": 0.001,
        "profit_abs": 1e-04,
        "sell_reason": "stop_loss",
        "buy_tag": "conf=0.9",
        "stop_loss_abs": 9e-06,
        "min_rate": 1e-05,
        "max_rate": 1.2e-05,
        "is_open": False,
    }
    document = {"strategy": {"Old": {"timeframe": "1h", "trades": [trade, {**trade, "is_open": True}]}}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    result = import_freqtrade(path, FreqtradeImportSettings(confidence_tag_pattern=r"conf=([0-9.]+)"))
    frame = result.log.frame
    assert frame["trade_id"].tolist() == ["Old-1"]
    assert frame[["side", "exit_reason", "timeframe"]].iloc[0].tolist() == ["long", "stop_loss", "1h"]
    assert (frame["confidence"].iloc[0], frame["leverage"].iloc[0]) == (0.9, 1.0)
    assert "skipped 1 open trades (only closed trades are imported)" in result.warnings


# --- read as it is -----------------------------------------------------------------------------


def test_read_trade_log_takes_a_freqtrade_database_as_it_is(tmp_path: Path) -> None:
    database = make_database(tmp_path / "tradesv3.sqlite")
    read = read_trade_log(database, DEFAULTS)
    imported = import_freqtrade(database, DEFAULTS)
    pd.testing.assert_frame_equal(read.log.frame, imported.log.frame)
    assert read.warnings == imported.warnings and "skipped 1 open trades" in read.warnings[0]


def test_read_trade_log_takes_our_own_logs_as_before(tmp_path: Path) -> None:
    ours = import_freqtrade(make_database(tmp_path / "tradesv3.sqlite"), DEFAULTS).log.frame
    write_log(ours, tmp_path / "trades.csv")
    with sqlite3.connect(tmp_path / "trades.sqlite") as connection:  # a bot's own SQLite log, our columns
        pd.read_csv(tmp_path / "trades.csv").to_sql("trades", connection, index=False)
    for name in ("trades.csv", "trades.sqlite"):
        read = read_trade_log(tmp_path / name, DEFAULTS)
        pd.testing.assert_frame_equal(read.log.frame, load_trades(tmp_path / name).frame)
        assert read.warnings == () and len(read.log.frame) == 3


def test_read_trade_log_reports_a_database_that_is_neither(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(InputError, match="no table 'trades'"):
        read_trade_log(path, DEFAULTS)


@pytest.mark.shared_data
def test_tune_reads_a_freqtrade_backtest_export_directly(backtest_results: Path, tmp_path: Path) -> None:
    export = backtest_results / "backtest-result.json"
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(REAL_PLAYBOOK)
    command = [
        str(Path(sys.executable).parent / "playbook-tuner"), "tune", "--trades", str(export),
        "--prices", str(backtest_results.parent), "--playbook", str(playbook), "--json", "-",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trades_analyzed"] == 179
