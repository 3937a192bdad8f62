"""The logs' files: CSV, Parquet or SQLite read as they stand, and canonical logs written back atomically."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd
import pyarrow as pa

from framework.errors import InputError, PlaybookTunerError
from framework.livefile import replace_atomically
from framework.times import TIME_TYPE
from framework.trades.validation import LoadedLog, validate_signals, validate_trades

_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


# --- reading -----------------------------------------------------------------------------------


def read_table(path: Path, *, table: str) -> pd.DataFrame:
    """Read a CSV, Parquet or SQLite file as it stands, without validation.

    CSV cells are read as text. ``table`` is the SQLite table; it is ignored for other formats.
    Raises :class:`InputError` for an unknown suffix, a missing, empty or unreadable file, or a
    missing table (the message lists the tables there are).
    """
    source = str(path)
    kind = _file_kind(path)
    if not path.is_file():
        raise InputError.single(source, "file not found")
    if path.stat().st_size == 0:
        raise InputError.single(source, "file is empty (0 bytes)")
    try:
        if kind == "csv":
            return pd.read_csv(path, dtype=str)
        if kind == "parquet":
            return pd.read_parquet(path)
        return _read_sqlite(path, table, source)
    except pd.errors.EmptyDataError:
        raise InputError.single(source, "file has no header and no data") from None
    except (ValueError, OSError, pa.ArrowException, sqlite3.Error) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError.single(source, f"cannot read this file as {kind}: {first_line}") from None


def _file_kind(path: Path) -> Literal["csv", "parquet", "sqlite"]:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(SQLITE_SUFFIXES):
        return "sqlite"
    known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES + SQLITE_SUFFIXES)
    raise InputError.single(str(path), f"unknown file type; expected one of {known}")


def _read_sqlite(path: Path, table: str, source: str) -> pd.DataFrame:
    uri = path.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
            )
        ]
        if table not in tables:
            found = ", ".join(tables) if tables else "none"
            raise InputError.single(source, f"no table '{table}' in this database (tables: {found})")
        quoted = '"' + table.replace('"', '""') + '"'
        return pd.read_sql_query(f"SELECT * FROM {quoted}", connection)


def load_trades(path: Path, *, table: str = "trades", lenient: bool = False) -> LoadedLog:
    """Read and validate a trade log (see the module docstring for the rules)."""
    return validate_trades(read_table(path, table=table), source=str(path), lenient=lenient)


def load_signals(path: Path, *, table: str = "signals", lenient: bool = False) -> LoadedLog:
    """Read and validate a signal log: every signal the bot saw, taken or not."""
    return validate_signals(read_table(path, table=table), source=str(path), lenient=lenient)


# --- writing -----------------------------------------------------------------------------------


def write_log(frame: pd.DataFrame, path: Path) -> None:
    """Write a canonical log to CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``).

    CSV times are ISO-8601 UTC (``2024-01-31T12:00:00Z``, with as many fraction digits as needed) and
    floats are written exactly, so loading the file again gives an equal frame. The file is replaced
    atomically (:func:`framework.livefile.replace_atomically`), so a reader never sees half a file.
    """
    kind = _file_kind(path)
    if kind == "sqlite":
        raise InputError.single(str(path), "logs are written as .csv, .csv.gz, .parquet or .pq, not SQLite")
    compression = "gzip" if path.name.lower().endswith(".gz") else None

    def write(handle: BinaryIO) -> None:
        if kind == "csv":
            _with_iso_times(frame).to_csv(handle, index=False, compression=compression)
        else:
            frame.to_parquet(handle, index=False)

    try:
        replace_atomically(path, write)
    except OSError as exc:
        raise PlaybookTunerError(f"cannot write {path}: {exc.strerror or exc}") from None


def _with_iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = _iso_utc(series)
        columns[name] = series
    return pd.DataFrame(columns)


def _iso_utc(times: pd.Series) -> pd.Series:
    """ISO-8601 UTC text such as ``2024-01-31T12:00:00Z``, with the fraction digits the column needs."""
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    naive = times.astype(TIME_TYPE).dt.tz_localize(None)
    seconds = naive.dt.strftime("%Y-%m-%dT%H:%M:%S")
    nanoseconds = pd.Series(naive.to_numpy().view("int64") % 1_000_000_000).where(naive.notna(), 0)
    if (nanoseconds == 0).all():
        return seconds + "Z"
    digits = 3 if (nanoseconds % 1_000_000 == 0).all() else 6 if (nanoseconds % 1_000 == 0).all() else 9
    return seconds + "." + nanoseconds.astype("str").str.zfill(9).str[:digits] + "Z"
