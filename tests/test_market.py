"""Candle loading: freqtrade names, every real file, gaps, timeframes, folders, writing, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from framework.errors import InputError
from framework.market import (
    TIMEFRAMES,
    Candles,
    candle_file_name,
    gap_report,
    load_candles,
    load_market,
    parse_candle_file_name,
    timedelta_to_timeframe,
    timeframe_to_timedelta,
    write_candles,
)

REAL_CANDLE_FILES = sorted(
    str(path.relative_to(SHARED_DATA / "freqtrade"))
    for path in (SHARED_DATA / "freqtrade").rglob("*")
    if path.suffix in (".feather", ".json") and "backtest_results" not in path.parts
) or ["<shared data absent>"]

BTC_5M_PAIRS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")


def make_frame(bars: int = 30, freq: str = "5min", start: str = "2024-01-01") -> pd.DataFrame:
    """A valid candle frame in the loader's layout (open-time index, float64 OHLCV)."""
    index = pd.date_range(start, periods=bars, freq=freq, tz="UTC", name="date").as_unit("ns")
    close = 100 + np.arange(bars, dtype=np.float64)
    return pd.DataFrame(
        {"open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close, "volume": 10.0},
        index=index,
    )


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def good_rows(count: int = 4) -> list[str]:
    return [f"2024-01-01T00:{5 * i:02d}:00Z,10,11,9,10.5,100" for i in range(count)]


# --- names and timeframes ------------------------------------------------------------------------


def test_timeframe_strings_round_trip() -> None:
    assert timeframe_to_timedelta("5m") == pd.Timedelta(minutes=5)
    assert timeframe_to_timedelta("1M") == pd.Timedelta(days=30)
    assert all(timedelta_to_timeframe(length) == name for name, length in TIMEFRAMES.items())
    assert timedelta_to_timeframe(pd.Timedelta(minutes=7)) is None
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        timeframe_to_timedelta("7m")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ETH_BTC-5m.feather", ("ETH/BTC", "5m", "spot")),
        ("UNITTEST_BTC-1m.json", ("UNITTEST/BTC", "1m", "spot")),
        ("XRP_USDT_USDT-5m-futures.feather", ("XRP/USDT:USDT", "5m", "futures")),
        ("XRP_USDT_USDT-8h-funding_rate.parquet", ("XRP/USDT:USDT", "8h", "funding_rate")),
        ("BTC_USDT_USDT-1h-premiumIndex.csv", ("BTC/USDT:USDT", "1h", "premiumIndex")),
        ("ETH_BTC-1M.csv", ("ETH/BTC", "1M", "spot")),
        ("candles.json", None),
        ("ETH_BTC-7m.feather", None),
        ("ETH_BTC-5m.hdf5", None),
        ("XRP_USDT_USDT-5m.feather", None),
        ("ETH_BTC-5m-futures.feather", None),
        ("LICENSE.GPL-3.0.txt", None),
    ],
)
def test_parse_candle_file_name(name: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_candle_file_name(name) == expected


def test_candle_file_name_is_the_inverse_of_parsing() -> None:
    for symbol, tf, ctype in [("ETH/BTC", "5m", "spot"), ("XRP/USDT:USDT", "8h", "funding_rate")]:
        for ext in ("feather", "parquet", "csv", "json", "json.gz"):
            assert parse_candle_file_name(candle_file_name(symbol, tf, ctype, ext)) == (symbol, tf, ctype)
    assert candle_file_name("XRP/USDT:USDT", "5m", "futures") == "XRP_USDT_USDT-5m-futures.feather"
    with pytest.raises(ValueError, match="BASE/QUOTE:SETTLE"):
        candle_file_name("XRP/USDT", "5m", "futures")
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        candle_file_name("XRP/USDT:USDT", "5m", "spot")


# --- the real data -------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", REAL_CANDLE_FILES)
def test_every_real_candle_file_loads(freqtrade_data: Path, relative: str) -> None:
    path = freqtrade_data / relative
    candles = load_candles(path)
    frame = candles.frame
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == np.float64).all()
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.unit == "ns"
    assert frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    raw = pd.read_feather(path) if path.suffix == ".feather" else pd.read_json(path)
    assert len(frame) == len(raw)
    np.testing.assert_array_equal(frame["open"].to_numpy(), raw["open"].to_numpy())
    parsed = parse_candle_file_name(path.name)
    if parsed is not None:
        assert (candles.symbol, candles.timeframe, candles.candle_type) == parsed


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "gaps", "missing"),
    [
        ("ADA_BTC-5m.feather", 5, 40),
        ("TRX_BTC-5m.feather", 6, 6),
        ("DASH_BTC-5m.feather", 2, 2),
        ("XMR_BTC-5m.feather", 2, 2),
        ("ZEC_BTC-5m.feather", 2, 2),
        ("ETH_BTC-5m.feather", 0, 0),
        ("UNITTEST_BTC-30m.feather", 0, 0),
        ("UNITTEST_BTC-1m.feather", 538, 717),
    ],
)
def test_gap_counts_of_real_files(freqtrade_data: Path, name: str, gaps: int, missing: int) -> None:
    report = load_candles(freqtrade_data / name).gaps
    assert (report.gaps, report.missing_bars) == (gaps, missing)


@pytest.mark.shared_data
def test_longest_gap_of_ada(freqtrade_data: Path) -> None:
    # ADA's longest hole: 33 missing 5m bars (checked by hand from the raw spacings).
    candles = load_candles(freqtrade_data / "ADA_BTC-5m.feather")
    spacing = candles.frame.index.to_series().diff().max()
    assert candles.gaps.longest == spacing - pd.Timedelta(minutes=5) == pd.Timedelta(minutes=165)


@pytest.mark.shared_data
def test_timeframe_and_symbol_of_an_unnamed_file_are_inferred(freqtrade_data: Path) -> None:
    candles = load_candles(freqtrade_data / "orderflow" / "candles.json")
    assert (candles.symbol, candles.timeframe, candles.candle_type) == ("candles", "5m", "spot")
    assert len(candles.frame) == 10_999
    assert candles.frame.index[0] == pd.Timestamp("2023-01-02 16:45", tz="UTC")
    named = load_candles(freqtrade_data / "orderflow" / "candles.json", symbol="BTC/USDT:USDT")
    assert (named.symbol, named.candle_type) == ("BTC/USDT:USDT", "futures")


@pytest.mark.shared_data
def test_funding_rate_timestamps_keep_their_jitter(freqtrade_data: Path) -> None:
    funding = load_candles(freqtrade_data / "futures" / "XRP_USDT_USDT-8h-funding_rate.feather")
    assert funding.timeframe == "8h"
    assert funding.gaps.gaps == 0
    assert funding.frame.index[0] == pd.Timestamp("2021-11-18 00:00:00.017", tz="UTC")
    assert funding.frame["open"].iloc[0] == pytest.approx(0.0001)


@pytest.mark.shared_data
def test_folder_of_the_ten_btc_pairs(freqtrade_data: Path, tmp_path: Path) -> None:
    for base in BTC_5M_PAIRS:
        (tmp_path / f"{base}_BTC-5m.feather").symlink_to(freqtrade_data / f"{base}_BTC-5m.feather")
    market = load_market(tmp_path)
    assert market.symbols() == [f"{base}/BTC" for base in BTC_5M_PAIRS]
    assert all(c.timeframe == "5m" and c.candle_type == "spot" for c in market.candles.values())
    assert market.for_symbol("ADA/BTC").gaps.missing_bars == 40
    assert market.funding == {}
    assert market.skipped == ()


@pytest.mark.shared_data
def test_whole_freqtrade_folder(freqtrade_data: Path) -> None:
    market = load_market(freqtrade_data)
    assert set(market.symbols()) == {
        *(f"{base}/BTC" for base in BTC_5M_PAIRS),
        "UNITTEST/BTC",
        "XRP/ETH",
        "XRP/USDT:USDT",
    }
    # finest timeframe wins; mark candles (UNITTEST/USDT:USDT has only those) are not loaded
    assert market.for_symbol("UNITTEST/BTC").timeframe == "1m"
    assert market.for_symbol("XRP/ETH").timeframe == "1m"
    futures = market.for_symbol("XRP/USDT:USDT")
    assert (futures.timeframe, futures.candle_type, len(futures.frame)) == ("5m", "futures", 1999)
    assert list(market.funding) == ["XRP/USDT:USDT"]
    assert market.funding["XRP/USDT:USDT"].candle_type == "funding_rate"
    assert [path.name for path in market.skipped] == ["LICENSE.GPL-3.0.txt"]

    hourly = load_market(freqtrade_data, timeframe="30m")
    assert hourly.symbols() == ["UNITTEST/BTC"]
    assert hourly.for_symbol("UNITTEST/BTC").timeframe == "30m"


@pytest.mark.shared_data
def test_for_symbol_names_the_symbol_and_what_exists(freqtrade_data: Path) -> None:
    market = load_market(freqtrade_data / "futures")
    with pytest.raises(InputError) as caught:
        market.for_symbol("XRP/USDT")
    message = str(caught.value)
    assert "'XRP/USDT'" in message
    assert str(freqtrade_data / "futures") in message
    assert "XRP/USDT:USDT" in message
    assert caught.value.problems[0].field == "symbol"


# --- folders and single files (synthetic) ---------------------------------------------------------


def test_folder_without_candles_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match="no spot or futures candles"):
        load_market(tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):
        load_market(tmp_path / "absent")


def test_folder_with_only_mark_candles_is_an_input_error(tmp_path: Path) -> None:
    write_candles(make_frame(), tmp_path / "futures", "BTC/USDT:USDT", "5m", "mark")
    with pytest.raises(InputError, match=r"found: BTC/USDT:USDT 5m mark"):
        load_market(tmp_path)


def test_two_files_with_the_same_candles_conflict(tmp_path: Path) -> None:
    write_candles(make_frame(), tmp_path, "ETH/BTC", "5m", ext="feather")
    write_candles(make_frame(), tmp_path, "ETH/BTC", "5m", ext="csv")
    with pytest.raises(InputError, match="keep one of the two"):
        load_market(tmp_path)


def test_market_timeframe_choice(tmp_path: Path) -> None:
    write_candles(make_frame(60, "1min"), tmp_path, "ETH/BTC", "1m")
    write_candles(make_frame(12, "5min"), tmp_path, "ETH/BTC", "5m")
    assert load_market(tmp_path).for_symbol("ETH/BTC").timeframe == "1m"
    assert load_market(tmp_path, timeframe="5m").for_symbol("ETH/BTC").timeframe == "5m"
    with pytest.raises(InputError, match="at timeframe 1h"):
        load_market(tmp_path, timeframe="1h")
    with pytest.raises(InputError, match="unknown timeframe '7m'"):
        load_market(tmp_path, timeframe="7m")


def test_single_file_market(tmp_path: Path) -> None:
    path = write_candles(make_frame(), tmp_path, "XRP/USDT:USDT", "5m", "futures", ext="parquet")
    market = load_market(path)
    assert market.symbols() == ["XRP/USDT:USDT"]
    assert market.funding == {}
    funding_frame = make_frame(5, "8h").assign(open=[0.0001, -0.0002, 0.0, 0.0001, 0.0003])
    funding_path = write_candles(funding_frame, tmp_path, "XRP/USDT:USDT", "8h", "funding_rate")
    assert list(load_market(tmp_path).funding) == ["XRP/USDT:USDT"]
    with pytest.raises(InputError, match="funding_rate candles are not tradable"):
        load_market(funding_path)
    mark = write_candles(make_frame(), tmp_path, "XRP/USDT:USDT", "5m", "mark")
    with pytest.raises(InputError, match="mark candles are not tradable"):
        load_market(mark)


# --- writing and reading back ---------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["feather", "parquet", "csv", "json", "json.gz"])
def test_write_then_load_round_trip(tmp_path: Path, ext: str) -> None:
    frame = make_frame(50)
    frame.loc[frame.index[3], "volume"] = np.nan
    frame.loc[frame.index[4], "close"] = 0.000012345678901234
    frame.loc[frame.index[4], "low"] = 0.000001
    frame = frame.drop(frame.index[10:13])  # a hole of three bars
    path = write_candles(frame, tmp_path / "sub", "ETH/BTC", "5m", ext=ext)
    assert path == tmp_path / "sub" / f"ETH_BTC-5m.{ext}"
    candles = load_candles(path)
    assert isinstance(candles, Candles)
    assert (candles.symbol, candles.timeframe, candles.candle_type, candles.source) == (
        "ETH/BTC",
        "5m",
        "spot",
        path,
    )
    pd.testing.assert_frame_equal(candles.frame, frame, check_freq=False)
    assert (candles.gaps.gaps, candles.gaps.missing_bars) == (1, 3)


def test_write_accepts_a_date_column_and_keeps_ms_jitter(tmp_path: Path) -> None:
    frame = make_frame(4, "8h")
    frame.index = frame.index + pd.to_timedelta([17, 7, 3, 14], unit="ms")
    with_column = frame.rename_axis("date").reset_index()
    path = write_candles(with_column, tmp_path, "XRP/USDT:USDT", "8h", "funding_rate", ext="json")
    loaded = load_candles(path)
    assert list(loaded.frame.index) == list(frame.index)
    with pytest.raises(ValueError, match="lacks columns"):
        write_candles(frame.drop(columns="volume"), tmp_path, "ETH/BTC", "8h")


@pytest.mark.parametrize("shape", ["values", "columns", "records"])
def test_json_shapes_with_epoch_ms(tmp_path: Path, shape: str) -> None:
    frame = make_frame(6).reset_index()
    frame["date"] = frame["date"].astype("int64") // 1_000_000
    if shape == "values":
        data: object = frame.to_numpy().tolist()
    elif shape == "columns":
        data = {column: {str(i): v for i, v in enumerate(frame[column].tolist())} for column in frame}
    else:
        data = frame.to_dict(orient="records")
    path = tmp_path / "ETH_BTC-5m.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    pd.testing.assert_frame_equal(load_candles(path).frame, make_frame(6), check_freq=False)


def test_csv_dates_as_epoch_ms_iso_and_offsets(tmp_path: Path) -> None:
    epoch = write_csv(tmp_path / "a.csv", ["1704067200000,10,11,9,10,1", "1704067500000,10,11,9,10,1"])
    iso = write_csv(tmp_path / "b.csv", ["2024-01-01T01:00:00+01:00,10,11,9,10,1", "2024-01-01 00:05:00,10,11,9,10,1"])
    expected = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:05"], tz="UTC").as_unit("ns")
    for path in (epoch, iso):
        candles = load_candles(path, timeframe="5m")
        assert list(candles.frame.index) == list(expected)
        assert candles.symbol == path.stem


# --- timeframe checks -----------------------------------------------------------------------------


def test_timeframe_inferred_from_the_most_common_spacing(tmp_path: Path) -> None:
    frame = make_frame(20, "1h").drop(make_frame(20, "1h").index[[5, 6, 12]])
    path = write_candles(frame, tmp_path, "ETH/BTC", "1h", ext="csv").rename(tmp_path / "mine.csv")
    candles = load_candles(path)
    assert candles.timeframe == "1h"
    assert (candles.gaps.gaps, candles.gaps.missing_bars) == (2, 3)


def test_spacing_that_is_no_timeframe(tmp_path: Path) -> None:
    path = write_candles(make_frame(20, "7min"), tmp_path, "ETH/BTC", "5m", ext="csv").rename(tmp_path / "x.csv")
    with pytest.raises(InputError, match="most often 0 days 00:07:00 apart, which is no freqtrade timeframe"):
        load_candles(path)


def test_name_and_spacing_mismatch(tmp_path: Path) -> None:
    path = write_candles(make_frame(20, "1h"), tmp_path, "ETH/BTC", "5m")
    with pytest.raises(InputError) as caught:
        load_candles(path)
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    assert problem.field == "date"
    assert "the file name says 5m but no two bars are closer than 0 days 01:00:00" in problem.message

    finer = write_candles(make_frame(20, "1min"), tmp_path, "ETH/BTC", "1h")
    with pytest.raises(InputError, match=r"row 2, field 'date': the file name says 1h but this bar opens only"):
        load_candles(finer)


def test_arguments_that_contradict_the_name(tmp_path: Path) -> None:
    path = write_candles(make_frame(), tmp_path, "ETH/BTC", "5m")
    with pytest.raises(InputError, match="field 'timeframe': the file name says timeframe '5m' but '1h'"):
        load_candles(path, timeframe="1h")
    with pytest.raises(InputError, match="field 'symbol'"):
        load_candles(path, symbol="ETH/USDT")
    assert load_candles(path, symbol="ETH/BTC", timeframe="5m").timeframe == "5m"


def test_one_bar_needs_a_timeframe(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "one.csv", good_rows(1))
    with pytest.raises(InputError, match="cannot infer the timeframe"):
        load_candles(path)
    assert load_candles(path, timeframe="5m").gaps.gaps == 0


def test_gap_report_rounds_jitter_and_months() -> None:
    months = pd.DatetimeIndex(["2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01"], tz="UTC")
    report = gap_report(months, TIMEFRAMES["1M"])
    assert (report.gaps, report.missing_bars, report.longest) == (1, 1, pd.Timedelta(days=30))


# --- bad input: file, row and field named ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "row", "field", "message"),
    [
        (["2024-01-01T00:00:00Z,10,11,9,10,1", "yesterday,10,11,9,10,1"], 2, "date", "not a date"),
        (["2024-01-01T00:00:00Z,10,11,9,10,1", ",10,11,9,10,1"], 2, "date", "missing date"),
        (["2024-01-01T00:00:00Z,10,11,9,,1", "2024-01-01T00:05:00Z,10,11,9,10,1"], 1, "close", "missing"),
        (["2024-01-01T00:00:00Z,10,11,9,10,1", "2024-01-01T00:05:00Z,10,inf,9,10,1"], 2, "high", "infinite"),
        (
            ["2024-01-01T00:00:00Z,10,11,9,10,1", "2024-01-01T00:05:00Z,0,11,9,10,1"],
            2,
            "open",
            "not positive",
        ),
        (
            ["2024-01-01T00:00:00Z,10,11,-9,10,1", "2024-01-01T00:05:00Z,10,11,9,10,1"],
            1,
            "low",
            "not positive",
        ),
        (["2024-01-01T00:00:00Z,10,11,9,10,1", "2024-01-01T00:05:00Z,10,9,11,10,1"], 2, "high", "below low"),
        (
            ["2024-01-01T00:00:00Z,10,11,9,10,1", "2024-01-01T00:05:00Z,10,11,9,abc,1"],
            2,
            "close",
            "not a number",
        ),
        (
            ["2024-01-01T00:00:00Z,10,11,9,10,-1", "2024-01-01T00:05:00Z,10,11,9,10,1"],
            1,
            "volume",
            "negative",
        ),
        (
            ["2024-01-01T00:05:00Z,10,11,9,10,1", "2024-01-01T00:05:00Z,10,11,9,10,1"],
            2,
            "date",
            "strictly increasing",
        ),
        (["1704067200,10,11,9,10,1", "1704067500,10,11,9,10,1"], 1, "date", "epoch seconds?"),
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path: Path, rows: list[str], row: int, field: str, message: str) -> None:
    path = write_csv(tmp_path / "ETH_BTC-5m.csv", rows)
    with pytest.raises(InputError) as caught:
        load_candles(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.row, problem.field) == (str(path), row, field)
    assert message in problem.message
    assert f"{path}, row {row}, field '{field}'" in str(caught.value)


def test_first_out_of_order_row_is_named(tmp_path: Path) -> None:
    rows = good_rows(6)
    rows[3], rows[4] = rows[4], rows[3]
    with pytest.raises(InputError) as caught:
        load_candles(write_csv(tmp_path / "ETH_BTC-5m.csv", rows))
    assert [(p.row, p.field) for p in caught.value.problems] == [(5, "date")]


def test_all_row_problems_come_in_one_error(tmp_path: Path) -> None:
    rows = good_rows(6)
    rows[1] = "2024-01-01T00:05:00Z,10,11,9,nan,1"
    rows[4] = "2024-01-01T00:20:00Z,10,8,9,10,1"
    with pytest.raises(InputError) as caught:
        load_candles(write_csv(tmp_path / "ETH_BTC-5m.csv", rows))
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "close"), (5, "high")]
    assert str(caught.value).startswith("2 problems:")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "ETH_BTC-5m.csv"
    path.write_text("date,open,high,close\n2024-01-01T00:00:00Z,1,2,1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_candles(path)
    assert [(p.file, p.field) for p in caught.value.problems] == [(str(path), "low"), (str(path), "volume")]
    assert "missing column" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ETH_BTC-5m.csv", "", "the file is empty"),
        ("ETH_BTC-5m.csv", "date,open,high,low,close,volume\n", "holds no candles"),
        ("ETH_BTC-5m.json", "[]", "holds no candles"),
        ("ETH_BTC-5m.json", "{not json", "cannot read as json"),
        ("ETH_BTC-5m.json", "[[1704067200000, 1, 2]]", "each candle needs 6 values"),
        ("ETH_BTC-5m.feather", "not a feather file", "cannot read as feather"),
        ("ETH_BTC-5m.parquet", "not a parquet file", "cannot read as parquet"),
    ],
)
def test_unreadable_and_empty_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_candles(path)
    assert caught.value.problems[0].file == str(path)
    assert message in str(caught.value)


def test_funding_rates_may_be_zero_or_negative_but_must_be_finite(tmp_path: Path) -> None:
    rows = [
        "2024-01-01T00:00:00.017Z,0.0001,0,0,0,0",
        "2024-01-01T08:00:00.004Z,-0.0002,0,0,0,0",
        "2024-01-01T16:00:00Z,0.0,0,0,0,0",
    ]
    path = write_csv(tmp_path / "XRP_USDT_USDT-8h-funding_rate.csv", rows)
    funding = load_candles(path)
    assert funding.frame["open"].tolist() == [0.0001, -0.0002, 0.0]
    write_csv(path, [*rows, "2024-01-02T00:00:00Z,,0,0,0,0"])
    with pytest.raises(InputError, match="row 4, field 'open': missing or infinite"):
        load_candles(path)


def test_nan_volume_is_allowed(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "XRP_USDT_USDT-5m-mark.csv", [r[: r.rindex(",")] + "," for r in good_rows(3)])
    assert load_candles(path).frame["volume"].isna().all()


def test_a_json_gz_folder_loads_like_feather(tmp_path: Path) -> None:
    frame = make_frame(30)
    write_candles(frame, tmp_path / "feather", "ETH/BTC", "5m", ext="feather")
    write_candles(frame, tmp_path / "jsongz", "ETH/BTC", "5m", ext="json.gz")
    feather, jsongz = load_market(tmp_path / "feather"), load_market(tmp_path / "jsongz")
    assert jsongz.symbols() == feather.symbols() == ["ETH/BTC"]
    pd.testing.assert_frame_equal(jsongz.for_symbol("ETH/BTC").frame, feather.for_symbol("ETH/BTC").frame)


def test_a_broken_json_gz_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ETH_BTC-5m.json.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"cannot read as json\.gz") as raised:
        load_candles(path)
    assert raised.value.problems[0].file == str(path)


def test_price_ticks_are_the_most_decimals_of_the_month_as_freqtrade_infers_them() -> None:
    from framework.market import price_ticks

    index = pd.DatetimeIndex(["2018-01-30 00:00", "2018-01-31 00:00", "2018-02-01 00:00"], tz="UTC")
    frame = pd.DataFrame(
        {"open": [0.00001234, 0.5, 0.12], "high": [0.5, 0.5, 0.125], "low": [0.5, 0.5, 0.12], "close": [0.5] * 3},
        index=index,
    )
    asked = pd.DatetimeIndex(["2018-01-31 12:00", "2018-02-15", "2018-03-01"], tz="UTC")
    assert price_ticks(frame, asked).tolist()[:2] == [1e-8, 1e-3]
    assert np.isnan(price_ticks(frame, asked)[2])
