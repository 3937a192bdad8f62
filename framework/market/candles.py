"""One candle file: read (feather, parquet, csv, json), validated row by row, its timeframe checked
or inferred, its gaps reported; and candles written as freqtrade writes them."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.errors import InputError, Problem
from framework.market.names import (
    COLUMNS,
    EXTENSIONS,
    PRICE_COLUMNS,
    TIMEFRAMES,
    candle_file_name,
    check_timeframe_argument,
    extension_of,
    parse_candle_file_name,
)
from framework.times import parse_times

# Bar spacings within this relative distance of a timeframe count as that timeframe: covers the
# few-ms jitter of funding timestamps and 28-31 day months, and no two timeframes are this close.
_SPACING_TOLERANCE = 0.1


@dataclass(frozen=True)
class GapReport:
    """Holes in a candle series' time grid (a missing bar is one whose open time has no row)."""

    gaps: int
    """Number of holes: spacings between consecutive bars longer than one timeframe."""
    missing_bars: int
    """Bars missing in all holes together."""
    longest: pd.Timedelta
    """Missing time of the longest hole (its missing bars x timeframe); 0 when there is none."""


@dataclass(frozen=True, eq=False)
class Candles:
    """One candle file, validated. ``frame``: DatetimeIndex ``date`` (bar open, UTC, ns), float64
    ``open high low close volume``; volume may be NaN (mark candles have none)."""

    symbol: str
    timeframe: str
    candle_type: str
    frame: pd.DataFrame
    source: Path
    gaps: GapReport


def load_candles(path: Path, *, symbol: str | None = None, timeframe: str | None = None) -> Candles:
    """Load and validate one candle file (feather, parquet, csv or json).

    Symbol, timeframe and candle type come from the freqtrade file name. For a file whose name is not
    a freqtrade name (e.g. ``candles.json``) the symbol is ``symbol`` or else the file stem, the type
    is futures when the symbol has ``:SETTLE`` and spot otherwise, and the timeframe is ``timeframe``
    or else the most common spacing of the bars mapped to the nearest freqtrade timeframe (within
    10 %). Arguments that contradict the file name, and a file name whose timeframe the bar spacing
    contradicts, are an ``InputError``.

    Dates may be datetimes (naive ones are taken as UTC), ISO-8601 strings or epoch milliseconds, in
    1990-2199 (:mod:`framework.times`).
    Columns other than date/open/high/low/close/volume are dropped. Rows are never sorted or dropped:
    timestamps must be strictly increasing.
    """
    path = Path(path)
    name = str(path)
    parsed = parse_candle_file_name(path.name)
    check_timeframe_argument(timeframe, name)
    if parsed is not None:
        named_symbol, named_tf, candle_type = parsed
        for arg, value, named in (("symbol", symbol, named_symbol), ("timeframe", timeframe, named_tf)):
            if value is not None and value != named:
                raise InputError.single(
                    name, f"the file name says {arg} {named!r} but {value!r} was asked for", field=arg
                )
        symbol, timeframe = named_symbol, named_tf
    else:
        symbol = symbol or path.stem
        candle_type = "futures" if ":" in symbol else "spot"

    raw = _read_table(path)
    frame = _validate(raw, name, funding=candle_type == "funding_rate")
    timeframe = _check_timeframe(frame.index, name, timeframe, named=parsed is not None)
    return Candles(
        symbol=symbol,
        timeframe=timeframe,
        candle_type=candle_type,
        frame=frame,
        source=path,
        gaps=gap_report(frame.index, TIMEFRAMES[timeframe]),
    )


def gap_report(index: pd.DatetimeIndex, timeframe: pd.Timedelta) -> GapReport:
    """Holes in a strictly increasing DatetimeIndex of bar open times, for bars ``timeframe`` long.

    A spacing counts as ``round(spacing / timeframe)`` bars, so ms jitter and uneven months add none.
    """
    steps = np.rint(np.diff(index.as_unit("ns").asi8) / timeframe.value).astype(np.int64)
    missing = steps[steps > 1] - 1
    if missing.size == 0:
        return GapReport(gaps=0, missing_bars=0, longest=pd.Timedelta(0))
    return GapReport(gaps=int(missing.size), missing_bars=int(missing.sum()), longest=timeframe * int(missing.max()))


def price_ticks(frame: pd.DataFrame, times: pd.DatetimeIndex) -> np.ndarray:
    """The price step at each of ``times`` as freqtrade's backtesting infers it from the candles
    (it rounds stops and fills to it): 10^-d, d the most decimals any open, high, low or close of the
    UTC calendar month shows, written to 14 significant digits. NaN for a month without candles."""
    prices = frame[["open", "high", "low", "close"]].to_numpy(np.float64)
    unique, where = np.unique(prices, return_inverse=True)
    decimals = np.array([_decimals(value) for value in unique])[where.reshape(prices.shape)].max(axis=1)
    months = frame.index.tz_convert("UTC").tz_localize(None).to_period("M")
    per_month = pd.Series(decimals, index=months).groupby(level=0).max()
    wanted = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_period("M")
    return 10.0 ** -per_month.reindex(wanted).to_numpy(np.float64)


def _decimals(price: float) -> int:
    text = np.format_float_positional(price, precision=14, unique=False, fractional=False, trim="-")
    return len(text.partition(".")[2])


def write_candles(
    frame: pd.DataFrame,
    directory: Path,
    symbol: str,
    timeframe: str,
    candle_type: str = "spot",
    ext: str = "feather",
) -> Path:
    """Write candles as freqtrade does and return the file's path (``directory / candle_file_name(...)``).

    ``frame`` has a ``date`` column or is indexed by bar open time (as :attr:`Candles.frame`). feather
    and parquet store ``date`` as a UTC datetime, csv as ISO-8601 text, json (and json.gz, gzipped) as
    freqtrade's list of ``[epoch_ms, open, high, low, close, volume]``. freqtrade keeps futures candles
    in a ``futures/`` subfolder: pass that folder as ``directory``. The directory is created when missing.
    """
    path = Path(directory) / candle_file_name(symbol, timeframe, candle_type, ext)
    if "date" in frame.columns:
        table = frame.reset_index(drop=True)
    elif isinstance(frame.index, pd.DatetimeIndex):
        table = frame.reset_index(names="date")
    else:
        raise ValueError("frame needs a DatetimeIndex of bar open times or a 'date' column")
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}; it needs {list(COLUMNS)}")
    table = table[list(COLUMNS)].copy()
    table["date"] = pd.to_datetime(table["date"], utc=True).dt.as_unit("ns")
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == "feather":
        table.to_feather(path)
    elif ext == "parquet":
        table.to_parquet(path, index=False)
    elif ext == "csv":
        table.to_csv(path, index=False)
    else:
        table["date"] = table["date"].dt.as_unit("ms").astype("int64")
        rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
        text = json.dumps(rows).encode("utf-8")
        path.write_bytes(gzip.compress(text) if ext == "json.gz" else text)
    return path


# --- reading -------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    name = str(path)
    suffix = extension_of(path)
    if suffix is None:
        raise InputError.single(name, f"unknown candle file type; use one of {', '.join(EXTENSIONS)}")
    if not path.is_file():
        raise InputError.single(name, "file not found")
    if path.stat().st_size == 0:
        raise InputError.single(name, "the file is empty")
    try:
        if suffix == "feather":
            table = pd.read_feather(path)
        elif suffix == "parquet":
            table = pd.read_parquet(path)
        elif suffix == "csv":
            table = pd.read_csv(path)
        else:
            table = _read_json(path, compressed=suffix == "json.gz")
    except (OSError, ValueError, EOFError) as exc:  # pyarrow and pandas parse errors derive from these
        raise InputError.single(name, f"cannot read as {suffix}: {exc}") from None
    if len(table) == 0:
        raise InputError.single(name, "the file holds no candles")
    return table


def _read_json(path: Path, *, compressed: bool) -> pd.DataFrame:
    """freqtrade's list of [epoch_ms, o, h, l, c, v], a list of records, or pandas' dict of columns
    (gzip-compressed when ``compressed``)."""
    raw = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    data: Any = json.loads(raw.decode("utf-8"))
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if not isinstance(data, list):
        raise ValueError("expected a list of candles or an object of columns")
    if not data:
        return pd.DataFrame(columns=list(COLUMNS))
    if isinstance(data[0], dict):
        return pd.DataFrame.from_records(data)
    table = pd.DataFrame(data)
    if table.shape[1] < len(COLUMNS):
        raise ValueError(f"each candle needs {len(COLUMNS)} values: {', '.join(COLUMNS)}")
    table = table.iloc[:, : len(COLUMNS)]
    table.columns = list(COLUMNS)
    return table


# --- validation ----------------------------------------------------------------------------------


def _validate(raw: pd.DataFrame, name: str, *, funding: bool) -> pd.DataFrame:
    """Check the columns and every row; return the indexed float64 frame or raise one InputError."""
    missing = [column for column in COLUMNS if column not in raw.columns]
    if missing:
        raise InputError(
            Problem(name, f"missing column (found: {', '.join(map(str, raw.columns))})", field=column)
            for column in missing
        )
    problems: list[Problem] = []
    dates = _parse_dates(raw["date"], name, problems)
    parsed = {column: _parse_numbers(raw[column], name, problems) for column in (*PRICE_COLUMNS, "volume")}
    values = {column: numbers for column, (numbers, _) in parsed.items()}

    checked = ("open",) if funding else PRICE_COLUMNS
    for column in checked:
        column_values = values[column]
        finite = np.isfinite(column_values)
        _add_rows(problems, name, column, ~finite & ~parsed[column][1], "missing or infinite")
        if not funding:
            _add_rows(problems, name, column, finite & (column_values <= 0), "not positive")
    volume = values["volume"]
    _add_rows(problems, name, "volume", np.isinf(volume) | (volume < 0), "infinite or negative")
    if not funding:
        _add_rows(problems, name, "high", values["high"] < values["low"], "high is below low")

    stamps = dates.asi8
    valid = ~dates.isna()
    ordered_pairs = valid[1:] & valid[:-1]
    not_increasing = np.flatnonzero(ordered_pairs & (stamps[1:] <= stamps[:-1]))
    if not_increasing.size:
        row = int(not_increasing[0]) + 2
        problems.append(
            Problem(
                name,
                f"timestamps must be strictly increasing: {dates[row - 1]} is not after the previous row's "
                f"{dates[row - 2]} ({not_increasing.size} such rows)",
                row=row,
                field="date",
            )
        )
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.row or 0, COLUMNS.index(p.field or "date"))))

    frame = pd.DataFrame(values, index=dates)
    frame.index.name = "date"
    return frame


def _add_rows(problems: list[Problem], name: str, field: str, mask: np.ndarray, message: str) -> None:
    problems.extend(Problem(name, message, row=int(i) + 1, field=field) for i in np.flatnonzero(mask))


def _parse_numbers(column: pd.Series, name: str, problems: list[Problem]) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN where missing or unparsable) and the mask of text that is not a number."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(column), dtype=bool)
    numbers = pd.to_numeric(column, errors="coerce").astype("float64")
    not_numbers = (numbers.isna() & column.notna()).to_numpy()
    _add_rows(problems, name, str(column.name), not_numbers, "not a number")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan), not_numbers


def _parse_dates(column: pd.Series, name: str, problems: list[Problem]) -> pd.DatetimeIndex:
    """UTC ns DatetimeIndex by :func:`framework.times.parse_times`' rule; bad rows are reported."""
    parsed = parse_times(column)
    bad = parsed.unparsable | parsed.outside | parsed.epoch_outside
    _add_rows(problems, name, "date", (parsed.times.isna() & ~bad).to_numpy(), "missing date")
    _add_rows(
        problems,
        name,
        "date",
        parsed.epoch_outside.to_numpy(),
        "epoch seconds? read as epoch milliseconds this date is outside 1990-2199; "
        "dates must be epoch milliseconds or ISO-8601",
    )
    _add_rows(problems, name, "date", parsed.unparsable.to_numpy(), "not a date (expected ISO-8601 or epoch ms)")
    _add_rows(problems, name, "date", parsed.outside.to_numpy(), "the date is outside 1990-2199")
    return pd.DatetimeIndex(parsed.times)


def _check_timeframe(index: pd.DatetimeIndex, name: str, timeframe: str | None, *, named: bool) -> str:
    """The file's timeframe: ``timeframe`` checked against the bar spacing, or inferred from it."""
    spacing = np.diff(index.asi8)
    if spacing.size == 0:
        if timeframe is None:
            raise InputError.single(name, "one bar only: cannot infer the timeframe; pass timeframe")
        return timeframe
    said = "the file name says" if named else "the timeframe asked for is"
    if timeframe is None:
        said = "most bars are apart by"
        seconds = np.rint(spacing / 1e9).astype(np.int64)
        values, counts = np.unique(seconds, return_counts=True)
        mode = pd.Timedelta(seconds=int(values[np.argmax(counts)]))
        timeframe = _nearest_timeframe(mode)
        if timeframe is None:
            raise InputError.single(
                name,
                f"the bars are most often {mode} apart, which is no freqtrade timeframe ({', '.join(TIMEFRAMES)})",
                field="date",
            )
    row = int(np.argmin(spacing)) + 2
    closest = pd.Timedelta(int(spacing[row - 2]))
    if closest > (1 + _SPACING_TOLERANCE) * TIMEFRAMES[timeframe]:
        raise InputError.single(
            name,
            f"{said} {timeframe} but no two bars are closer than {closest} (rows {row - 1} and {row})",
            row=row,
            field="date",
        )
    if closest < (1 - _SPACING_TOLERANCE) * TIMEFRAMES[timeframe]:
        raise InputError.single(
            name,
            f"{said} {timeframe} but this bar opens only {closest} after the one before",
            row=row,
            field="date",
        )
    return timeframe


def _nearest_timeframe(spacing: pd.Timedelta) -> str | None:
    name = min(TIMEFRAMES, key=lambda tf: abs(np.log(spacing / TIMEFRAMES[tf])))
    ratio = spacing / TIMEFRAMES[name]
    return name if abs(ratio - 1) <= _SPACING_TOLERANCE else None
