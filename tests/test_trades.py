"""Trade and signal logs: reading each format, the canonical frame, every error a user can make."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.errors import InputError
from framework.trades import (
    EXIT_REASONS,
    SIGNAL_COLUMNS,
    TRADE_COLUMNS,
    load_signals,
    load_trades,
    validate_trades,
    write_log,
)

HEADER = "trade_id,symbol,side,entry_time,entry_price,exit_time,exit_price,confidence"
GOOD_ROWS = [
    "t2,eth/usdt,SHORT,2024-01-02T00:00:00Z,2000,2024-01-02T03:00:00Z,1900,0.6",
    "t1,BTC/USDT:USDT,long,2024-01-01T00:00:00Z,40000,2024-01-01T05:00:00Z,41000,0.8",
    "t3,SOL/USDT,Long,2024-01-02T00:00:00Z,100,2024-01-02T01:00:00Z,99,0.7",
]


def write_csv(tmp_path: Path, lines: list[str], name: str = "trades.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path, [HEADER, *GOOD_ROWS])


def load_error(path: Path, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as caught:
        load_trades(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def only_problem(error: InputError, *, row: int | None, field: str | None) -> str:
    """The single problem of ``error``: check where it is, return its full text."""
    assert len(error.problems) == 1, str(error)
    problem = error.problems[0]
    assert (problem.row, problem.field) == (row, field), str(error)
    return str(error)


# --- the canonical frame -----------------------------------------------------------------------


def test_canonical_frame_has_fixed_columns_types_order_and_defaults(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER + ",note", *(row + ",x" for row in GOOD_ROWS)])
    log = load_trades(path)
    frame = log.frame

    assert tuple(frame.columns) == TRADE_COLUMNS
    assert isinstance(frame.index, pd.RangeIndex)
    assert log.ignored_columns == ("note",)
    assert log.dropped == ()
    assert log.source == str(path)
    for name in ("trade_id", "symbol", "side", "regime", "strategy", "exit_reason", "timeframe"):
        assert frame[name].dtype == "str", name
    for name in ("entry_time", "exit_time"):
        assert str(frame[name].dtype) == "datetime64[ns, UTC]", name
    for name in ("entry_price", "confidence", "leverage", "stake", "pnl", "fees", "min_rate", "max_rate"):
        assert frame[name].dtype == np.float64, name

    # sorted by entry time, then trade id
    assert frame["trade_id"].tolist() == ["t1", "t2", "t3"]
    assert frame["symbol"].tolist() == ["BTC/USDT:USDT", "ETH/USDT", "SOL/USDT"]
    assert frame["side"].tolist() == ["long", "short", "long"]
    assert frame["entry_time"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")
    # defaults of absent optional columns
    assert frame["strategy"].tolist() == ["default"] * 3
    assert frame["leverage"].tolist() == [1.0] * 3
    assert frame["exit_reason"].tolist() == ["other"] * 3
    assert frame["regime"].isna().all() and frame["timeframe"].isna().all()
    assert frame[["stake", "stop_loss", "take_profit", "pnl", "fees", "forecast_return"]].isna().all().all()


def test_times_iso_with_offset_naive_and_epoch_ms_are_the_same_instant(tmp_path: Path) -> None:
    entry_ms = int(pd.Timestamp("2024-03-01T12:00:00Z").value // 1_000_000)
    rows = [
        "a,BTC/USDT,long,2024-03-01T12:00:00Z,1,2024-03-01T13:00:00Z,1,0.5",
        "b,BTC/USDT,long,2024-03-01T14:00:00+02:00,1,2024-03-01 13:00:00,1,0.5",
        f"c,BTC/USDT,long,{entry_ms},1,{entry_ms + 3_600_000},1,0.5",
    ]
    frame = load_trades(write_csv(tmp_path, [HEADER, *rows])).frame
    assert (frame["entry_time"] == pd.Timestamp("2024-03-01T12:00:00Z")).all()
    assert (frame["exit_time"] == pd.Timestamp("2024-03-01T13:00:00Z")).all()


def test_confidence_column_above_one_is_percent(tmp_path: Path) -> None:
    rows = [row.rsplit(",", 1)[0] + f",{value}" for row, value in zip(GOOD_ROWS, ("60", "80", "0.5"), strict=True)]
    frame = load_trades(write_csv(tmp_path, [HEADER, *rows])).frame
    assert frame.set_index("trade_id")["confidence"].to_dict() == {"t1": 0.8, "t2": 0.6, "t3": 0.005}


def test_confidence_fractions_are_kept(tmp_path: Path) -> None:
    frame = load_trades(good_csv(tmp_path)).frame
    assert frame["confidence"].tolist() == [0.8, 0.6, 0.7]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("sl", "stop_loss"),
        ("StopLoss", "stop_loss"),
        ("stop_loss", "stop_loss"),
        ("trailing_stop_loss", "stop_loss"),
        ("tp", "take_profit"),
        ("take_profit", "take_profit"),
        ("ROI", "roi"),
        ("liquidation", "liquidation"),
        ("signal", "signal"),
        ("exit_signal", "signal"),
        ("sell_signal", "signal"),
        ("time", "time"),
        ("timeout", "time"),
        ("max_hold", "time"),
        ("force_exit", "other"),
        ("", "other"),
    ],
)
def test_exit_reasons_are_normalised(tmp_path: Path, raw: str, canonical: str) -> None:
    row = GOOD_ROWS[1] + f",{raw}"
    frame = load_trades(write_csv(tmp_path, [HEADER + ",exit_reason", row])).frame
    assert frame["exit_reason"].tolist() == [canonical]
    assert canonical in EXIT_REASONS


def test_optional_columns_are_parsed(tmp_path: Path) -> None:
    header = HEADER + ",regime,strategy,leverage,stake,stop_loss,take_profit,pnl,fees,timeframe,min_rate,max_rate"
    row = GOOD_ROWS[1] + ",Trending_Up,trend,3,100,39000,42000,7.5,0.1,5m,39500,41200"
    frame = load_trades(write_csv(tmp_path, [header, row])).frame
    record = frame.iloc[0]
    assert record["regime"] == "trending_up"
    assert record["strategy"] == "trend"
    assert record[["leverage", "stake", "stop_loss", "take_profit", "pnl", "fees"]].tolist() == [
        3.0,
        100.0,
        39000.0,
        42000.0,
        7.5,
        0.1,
    ]
    assert record["timeframe"] == "5m"
    assert (record["min_rate"], record["max_rate"]) == (39500.0, 41200.0)


def test_empty_optional_cells_take_the_default(tmp_path: Path) -> None:
    header = HEADER + ",regime,strategy,leverage,exit_reason"
    frame = load_trades(write_csv(tmp_path, [header, GOOD_ROWS[1] + ",,,,"])).frame
    assert frame["regime"].isna().all()
    assert frame[["strategy", "leverage", "exit_reason"]].iloc[0].tolist() == ["default", 1.0, "other"]


def test_parquet_sqlite_and_gzip_give_the_same_frame(tmp_path: Path) -> None:
    expected = load_trades(good_csv(tmp_path)).frame
    raw = pd.read_csv(good_csv(tmp_path))  # typed: numbers as numbers

    raw.to_parquet(tmp_path / "trades.parquet")
    raw.to_csv(tmp_path / "trades.csv.gz", index=False)
    with sqlite3.connect(tmp_path / "bot.db") as connection:
        raw.to_sql("my_trades", connection, index=False)

    for path, table in [
        (tmp_path / "trades.parquet", "trades"),
        (tmp_path / "trades.csv.gz", "trades"),
        (tmp_path / "bot.db", "my_trades"),
    ]:
        pd.testing.assert_frame_equal(load_trades(path, table=table).frame, expected, obj=path.name)


def test_numeric_ids_and_epoch_times_from_a_typed_source(tmp_path: Path) -> None:
    start = pd.Timestamp("2024-01-01T00:00:00Z").value // 1_000_000
    raw = pd.DataFrame(
        {
            "trade_id": [7, 8],
            "symbol": ["BTC/USDT", "BTC/USDT"],
            "side": ["long", "short"],
            "entry_time": [start, start + 60_000],
            "entry_price": [1.5, 2.5],
            "exit_time": [start + 120_000, start + 180_000],
            "exit_price": [1.6, 2.4],
            "confidence": [0.5, 0.9],
        }
    )
    frame = validate_trades(raw, source="memory").frame
    assert frame["trade_id"].tolist() == ["7", "8"]
    assert frame["exit_time"].iloc[1] == pd.Timestamp("2024-01-01T00:03:00Z")


# --- errors ------------------------------------------------------------------------------------


def test_missing_required_column_lists_the_columns_found(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["trade_id,symbol,side,entry_time,entry_price,exit_time,exit_price", "x"])
    text = only_problem(load_error(path), row=None, field="confidence")
    assert str(path) in text
    assert "columns found: trade_id, symbol, side, entry_time, entry_price, exit_time, exit_price" in text
    assert "import-freqtrade" not in text


def test_freqtrade_columns_get_the_import_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["id,pair,open_date,close_date,open_rate,close_rate", "1,BTC/USDT,a,b,1,2"])
    error = load_error(path)
    assert {problem.field for problem in error.problems} >= {"trade_id", "symbol", "entry_time"}
    assert f"playbook-tuner import-freqtrade {path} --out trades.csv" in str(error)


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ("t1,BTC/USDT,long,tomorrow,1,2024-01-01T05:00:00Z,1,0.5", "entry_time", "'tomorrow' is not a time"),
        (
            "t1,BTC/USDT,long,2024-01-01T05:00:00Z,1,2024-01-01T04:00:00Z,1,0.5",
            "exit_time",
            "is before entry_time",
        ),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,0,2024-01-01T04:00:00Z,1,0.5",
            "entry_price",
            "must be > 0, got 0",
        ),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,-2,0.5",
            "exit_price",
            "must be > 0, got -2",
        ),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,inf,0.5",
            "exit_price",
            "is not finite",
        ),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,abc,2024-01-01T04:00:00Z,1,0.5",
            "entry_price",
            "not a number",
        ),
        ("t1,BTC/USDT,buy,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,1,0.5", "side", "unknown side 'buy'"),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,1,101",
            "confidence",
            "outside [0, 100]",
        ),
        (
            "t1,BTC/USDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,1,-0.1",
            "confidence",
            "outside [0, 100]",
        ),
        ("t1,BTCUSDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,1,0.5", "symbol", "not BASE/QUOTE"),
        ("t1,BTC/USDT,long,1704067200,1,2024-01-01T04:00:00Z,1,0.5", "entry_time", "not seconds"),
        (",BTC/USDT,long,2024-01-01T00:00:00Z,1,2024-01-01T04:00:00Z,1,0.5", "trade_id", "missing value"),
    ],
)
def test_bad_value_names_file_row_and_field(tmp_path: Path, row: str, field: str, expected: str) -> None:
    path = write_csv(tmp_path, [HEADER, GOOD_ROWS[0], row])
    text = only_problem(load_error(path), row=2, field=field)
    assert f"{path}, row 2, field '{field}'" in text
    assert expected in text


def test_unknown_regime_names_file_row_and_field(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER + ",regime", GOOD_ROWS[0] + ",ranging", GOOD_ROWS[1] + ",bullish"])
    text = only_problem(load_error(path), row=2, field="regime")
    assert "unknown regime 'bullish'" in text and "trending_up" in text


def test_min_rate_above_max_rate_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER + ",min_rate,max_rate", GOOD_ROWS[0] + ",2100,1800"])
    text = only_problem(load_error(path), row=1, field="max_rate")
    assert "is below min_rate" in text


def test_duplicate_trade_id_names_both_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER, *GOOD_ROWS, GOOD_ROWS[1]])
    text = only_problem(load_error(path), row=4, field="trade_id")
    assert "duplicate trade_id 't1' (first in row 2)" in text


def test_all_problems_are_collected_in_one_error(tmp_path: Path) -> None:
    bad = [f"x{i},BTC/USDT,sideways,2024-01-01T00:00:00Z,1,2024-01-01T01:00:00Z,-1,0.5" for i in range(15)]
    error = load_error(write_csv(tmp_path, [HEADER, *bad]))
    assert len(error.problems) == 30
    assert [(p.row, p.field) for p in error.problems[:2]] == [(1, "side"), (1, "exit_price")]
    assert str(error).startswith("30 problems:")
    assert "... and 10 more" in str(error)


@pytest.mark.parametrize("content", ["", HEADER + "\n"])
def test_empty_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(content, encoding="utf-8")
    text = only_problem(load_error(path, lenient=True), row=None, field=None)
    assert str(path) in text
    assert ("0 bytes" if not content else "no data rows") in text


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("trades.parquet", b"trade_id,symbol\n1,BTC/USDT\n", "cannot read this file as parquet"),
        ("trades.csv", b'a,b\n1,2,3,4\n"unclosed', "cannot read this file as csv"),
        (
            "trades.sqlite",
            b"this is not a database at all, just text" * 10,
            "cannot read this file as sqlite",
        ),
        ("trades.xlsx", b"whatever", "unknown file type"),
    ],
)
def test_unreadable_file_is_an_error(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    text = only_problem(load_error(path), row=None, field=None)
    assert text.startswith(str(path))
    assert expected in text


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    assert "file not found" in str(load_error(tmp_path / "nope.csv"))


def test_missing_sqlite_table_lists_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
        connection.execute("CREATE TABLE pairlocks (id INTEGER)")
    text = only_problem(load_error(path), row=None, field=None)
    assert "no table 'trades' in this database (tables: orders, pairlocks)" in text


# --- lenient mode ------------------------------------------------------------------------------


def test_lenient_drops_bad_rows_and_reports_each(tmp_path: Path) -> None:
    bad_side = "b1,BTC/USDT,up,2024-01-01T00:00:00Z,1,2024-01-01T01:00:00Z,1,0.5"
    bad_twice = "b2,BTC/USDT,long,never,1,2024-01-01T01:00:00Z,0,0.5"
    path = write_csv(tmp_path, [HEADER, GOOD_ROWS[0], bad_side, GOOD_ROWS[1], bad_twice, GOOD_ROWS[0]])
    log = load_trades(path, lenient=True)
    assert log.frame["trade_id"].tolist() == ["t1", "t2"]
    assert [(p.row, p.field) for p in log.dropped] == [
        (2, "side"),
        (4, "entry_time"),
        (4, "exit_price"),
        (5, "trade_id"),
    ]
    assert all(p.file == str(path) for p in log.dropped)


def test_lenient_still_raises_for_file_level_problems(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["trade_id,symbol", "1,BTC/USDT"])
    assert "required column is missing" in str(load_error(path, lenient=True))


def test_lenient_with_no_valid_row_raises(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER, "b1,BTC/USDT,up,2024-01-01T00:00:00Z,1,2024-01-01T01:00:00Z,1,0.5"])
    assert "no valid rows: all 1 rows" in str(load_error(path, lenient=True))


# --- signal log --------------------------------------------------------------------------------

SIGNAL_HEADER = "signal_id,symbol,side,entry_time,entry_price,confidence,taken,trade_id"


def test_signal_log_is_validated_by_the_same_rules(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            SIGNAL_HEADER + ",regime",
            "s2,btc/usdt,long,2024-01-01T01:00:00Z,100,55,No,,volatile",
            "s1,BTC/USDT,short,2024-01-01T00:00:00Z,101,70,TRUE,t9,",
            "s3,BTC/USDT,short,2024-01-01T02:00:00Z,99,40,0,,ranging",
            "s4,BTC/USDT,long,2024-01-01T03:00:00Z,98,90,yes,t10,",
        ],
        name="signals.csv",
    )
    log = load_signals(path)
    frame = log.frame
    assert tuple(frame.columns) == SIGNAL_COLUMNS
    assert frame["signal_id"].tolist() == ["s1", "s2", "s3", "s4"]
    assert frame["taken"].dtype == bool
    assert frame["taken"].tolist() == [True, False, False, True]
    assert frame["confidence"].tolist() == [0.7, 0.55, 0.4, 0.9]
    assert frame["trade_id"].tolist()[0] == "t9" and pd.isna(frame["trade_id"].iloc[1])
    assert frame["strategy"].tolist() == ["default"] * 4


def test_signal_log_errors_name_row_and_field(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            SIGNAL_HEADER,
            "s1,BTC/USDT,long,2024-01-01T00:00:00Z,100,0.5,maybe,",
            "s1,BTC/USDT,long,2024-01-01T00:00:00Z,100,0.5,false,",
        ],
        name="signals.csv",
    )
    with pytest.raises(InputError) as caught:
        load_signals(path)
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "taken"), (2, "signal_id")]
    assert "'maybe' is not true/false" in str(caught.value)
    assert "duplicate signal_id 's1' (first in row 1)" in str(caught.value)


def test_signal_log_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["signal_id,symbol,side,entry_time,entry_price,confidence", "x"], name="s.csv")
    with pytest.raises(InputError) as caught:
        load_signals(path)
    assert [(p.row, p.field) for p in caught.value.problems] == [(None, "taken")]


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_write_log_reloads_equal(tmp_path: Path, name: str) -> None:
    header = HEADER + ",regime,pnl,fees,exit_reason,forecast_return"
    rows = [
        "a,BTC/USDT,long,2024-01-01T00:00:00.123456789Z,40000.123456789,2024-01-01T01:00:00Z,"
        "40001.1,0.1,ranging,0.1,0.30000000000000004,sl,0.00012",
        "b,ETH/USDT,short,2024-01-01T00:00:01Z,2000,2024-01-01T02:00:00Z,1999,0.2,,,,,",
    ]
    original = load_trades(write_csv(tmp_path, [header, *rows])).frame
    path = tmp_path / name
    write_log(original, path)
    pd.testing.assert_frame_equal(load_trades(path).frame, original)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["trades.csv", name])  # no temp file left


def test_write_log_csv_times_are_iso_utc_and_replace_the_old_file(tmp_path: Path) -> None:
    frame = load_trades(good_csv(tmp_path)).frame
    path = tmp_path / "out.csv"
    path.write_text("old content", encoding="utf-8")
    write_log(frame, path)
    text = path.read_text(encoding="utf-8")
    assert "old content" not in text
    assert "2024-01-01T00:00:00Z" in text


def test_write_log_signals_round_trip(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            SIGNAL_HEADER,
            "s1,BTC/USDT,long,2024-01-01T00:00:00Z,100,0.5,true,t1",
            "s2,BTC/USDT,long,1704067300000,1,1,0,",
        ],
        name="signals.csv",
    )
    original = load_signals(path).frame
    write_log(original, tmp_path / "copy.csv")
    pd.testing.assert_frame_equal(load_signals(tmp_path / "copy.csv").frame, original)
