"""The bot's trade memory: its trade log and its signal log, read and validated into typed frames.

Both logs come from CSV (``.csv``, ``.csv.gz``), Parquet (``.parquet``, ``.pq``) or SQLite (``.sqlite``,
``.sqlite3``, ``.db``; one table). Each log is described by one declarative table of column specs
(``_TRADE_SPEC``, ``_SIGNAL_SPEC``) and checked by one validator, so both follow the same rules:

- Column names are matched after stripping blanks and lower-casing; unknown columns are dropped and
  their names returned so the caller can report them.
- Times are datetimes, ISO-8601 strings (with an offset, or naive = UTC) or epoch milliseconds
  (numbers or numeric strings) and become ``datetime64[ns, UTC]``; times outside 1990-2199 are
  rejected, which catches epoch seconds passed as milliseconds (:mod:`framework.times`, the rule
  candles follow too).
- Confidence is a fraction in [0, 1]. A column in which any value exceeds 1 is read as percent (0-100)
  and divided by 100 as a whole; a value outside [0, 100] is an error.
- Prices (entry, exit, stop-loss, take-profit, min/max rate) are finite and > 0; returns are fractions.
- An empty cell in an optional column takes the column's default; in a required column it is an error.

Every problem names the file, the data row (1-based, a CSV header is not a row) and the field. Strict
mode raises all of them as one :class:`InputError`; lenient mode drops the bad rows and reports them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from framework.errors import InputError, PlaybookTunerError, Problem
from framework.livefile import replace_atomically
from framework.regimes import REGIMES
from framework.times import TIME_TYPE, parse_times

SIDES = ("long", "short")
EXIT_REASONS = ("stop_loss", "take_profit", "liquidation", "signal", "time", "other")

_EXIT_REASON_SYNONYMS = {
    **{name: name for name in EXIT_REASONS},
    "sl": "stop_loss",
    "stoploss": "stop_loss",
    "trailing_stop_loss": "stop_loss",
    "stoploss_on_exchange": "stop_loss",
    "tp": "take_profit",
    "roi": "take_profit",
    "exit_signal": "signal",
    "sell_signal": "signal",
    "timeout": "time",
    "max_hold": "time",
}

_SYMBOL_PATTERN = r"[A-Z0-9]+/[A-Z0-9]+(?::[A-Z0-9]+)?"
_TIMEFRAME_PATTERN = r"[1-9][0-9]*[smhdwM]"
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_FREQTRADE_MARKERS = frozenset({"pair", "open_date", "close_date", "open_rate", "close_rate", "is_open"})

_Kind = Literal[
    "key", "text", "symbol", "side", "time", "number", "confidence", "regime", "exit_reason",
    "flag", "timeframe",
]  # fmt: skip


@dataclass(frozen=True)
class _Column:
    """One column of a log: how its raw values are parsed and what fills it when absent or empty."""

    name: str
    kind: _Kind
    required: bool = False
    default: str | float | None = None  # None: NA for text, NaN for numbers
    minimum: float | None = None  # numbers: values must be > minimum (>= when minimum_inclusive)
    minimum_inclusive: bool = False


@dataclass(frozen=True)
class _OrderRule:
    """``low <= high`` on every row where both are set; the problem is reported on ``high``."""

    low: str
    high: str
    message: str  # formatted with low= and high=


@dataclass(frozen=True)
class _LogSpec:
    """A whole log: its columns in canonical order, its unique key, its sort time, its row rules."""

    what: str  # "trade log" / "signal log", for messages
    columns: tuple[_Column, ...]
    key: str
    time: str
    order_rules: tuple[_OrderRule, ...] = ()


_TRADE_SPEC = _LogSpec(
    what="trade log",
    key="trade_id",
    time="entry_time",
    columns=(
        _Column("trade_id", "key", required=True),
        _Column("symbol", "symbol", required=True),
        _Column("side", "side", required=True),
        _Column("entry_time", "time", required=True),
        _Column("entry_price", "number", required=True, minimum=0.0),
        _Column("exit_time", "time", required=True),
        _Column("exit_price", "number", required=True, minimum=0.0),
        _Column("confidence", "confidence", required=True),
        _Column("regime", "regime"),
        _Column("strategy", "text", default="default"),
        _Column("leverage", "number", default=1.0, minimum=0.0),
        _Column("stake", "number", minimum=0.0),
        _Column("stop_loss", "number", minimum=0.0),
        _Column("take_profit", "number", minimum=0.0),
        _Column("pnl", "number"),
        _Column("fees", "number", minimum=0.0, minimum_inclusive=True),
        _Column("exit_reason", "exit_reason", default="other"),
        _Column("forecast_return", "number"),
        _Column("timeframe", "timeframe"),
        _Column("min_rate", "number", minimum=0.0),
        _Column("max_rate", "number", minimum=0.0),
    ),
    order_rules=(
        _OrderRule("entry_time", "exit_time", "exit_time {high} is before entry_time {low}"),
        _OrderRule("min_rate", "max_rate", "max_rate {high} is below min_rate {low}"),
    ),
)

_SIGNAL_SPEC = _LogSpec(
    what="signal log",
    key="signal_id",
    time="entry_time",
    columns=(
        _Column("signal_id", "key", required=True),
        _Column("symbol", "symbol", required=True),
        _Column("side", "side", required=True),
        _Column("entry_time", "time", required=True),
        _Column("entry_price", "number", required=True, minimum=0.0),
        _Column("confidence", "confidence", required=True),
        _Column("taken", "flag", required=True),
        _Column("trade_id", "text"),
        _Column("regime", "regime"),
        _Column("strategy", "text", default="default"),
        _Column("forecast_return", "number"),
        _Column("timeframe", "timeframe"),
    ),
)

TRADE_COLUMNS: tuple[str, ...] = tuple(c.name for c in _TRADE_SPEC.columns)
SIGNAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in _SIGNAL_SPEC.columns)


@dataclass(frozen=True)
class LoadedLog:
    """A validated log.

    ``frame`` has exactly the log's columns in order (``TRADE_COLUMNS`` or ``SIGNAL_COLUMNS``): ``str``
    for ids and names, ``float64`` for numbers, ``datetime64[ns, UTC]`` for times, ``bool`` for
    ``taken``; sorted by entry time then id (as text); RangeIndex. ``dropped`` holds, in lenient mode,
    every problem of every dropped row (a row with two faults appears twice).
    """

    frame: pd.DataFrame
    source: str
    dropped: tuple[Problem, ...]
    ignored_columns: tuple[str, ...]


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


def validate_trades(frame: pd.DataFrame, *, source: str, lenient: bool = False) -> LoadedLog:
    """Validate a raw trade-log frame into the canonical one; ``source`` names the file in messages."""
    return _validate(frame, _TRADE_SPEC, source, lenient)


def validate_signals(frame: pd.DataFrame, *, source: str, lenient: bool = False) -> LoadedLog:
    """Validate a raw signal-log frame into the canonical one; ``source`` names the file in messages."""
    return _validate(frame, _SIGNAL_SPEC, source, lenient)


# --- the validator -----------------------------------------------------------------------------

# A parser turns a raw column into canonical values (NA where missing or bad) and lists its
# failures: a mask of bad rows and a message formatted with the raw value.
_Failure = tuple[pd.Series, str]
_Parser = Callable[[pd.Series, _Column], tuple[pd.Series, list[_Failure]]]


def _validate(frame: pd.DataFrame, spec: _LogSpec, source: str, lenient: bool) -> LoadedLog:
    frame = _normalise_header(frame, source)
    ignored = tuple(name for name in frame.columns if name not in {c.name for c in spec.columns})
    _check_required_columns(frame, spec, source)
    if len(frame) == 0:
        raise InputError.single(source, f"the {spec.what} has a header but no data rows")

    rows = len(frame)
    problems: list[tuple[int, int, Problem]] = []  # (row index, column order, problem) for sorting
    values: dict[str, pd.Series] = {}
    order = {column.name: i for i, column in enumerate(spec.columns)}

    def report(mask: pd.Series, name: str, template: str, **cells: pd.Series) -> None:
        """One problem per row in ``mask``; ``template`` is formatted with that row's ``cells``."""
        for index in np.flatnonzero(mask.to_numpy(dtype=bool)):
            message = template.format(**{key: cell.iloc[index] for key, cell in cells.items()})
            problems.append((int(index), order[name], Problem(source, message, row=int(index) + 1, field=name)))

    for column in spec.columns:
        if column.name not in frame.columns:
            values[column.name] = _default_column(column, rows)
            continue
        raw = frame[column.name]
        missing = _missing(raw)
        if column.required:
            report(missing, column.name, "missing value")
        parsed, failures = _PARSERS[column.kind](raw, column)
        for mask, template in failures:
            report(mask & ~missing, column.name, template, value=raw)
        if column.default is not None:
            parsed = parsed.mask(missing, column.default)
        values[column.name] = parsed

    for rule in spec.order_rules:
        low, high = values[rule.low], values[rule.high]
        report((low > high).fillna(False), rule.high, rule.message, low=low, high=high)

    keys = values[spec.key]
    duplicate = keys.duplicated(keep="first") & keys.notna()
    if duplicate.any():
        first_row = pd.Series(np.arange(1, rows + 1)).groupby(keys.to_numpy()).transform("min")
        template = f"duplicate {spec.key} '{{key}}' (first in row {{first:.0f}})"
        report(duplicate, spec.key, template, key=keys, first=first_row)

    problems.sort(key=lambda item: (item[0], item[1]))
    found = tuple(problem for _, _, problem in problems)
    result = pd.DataFrame(values)
    if found:
        if not lenient:
            raise InputError(found)
        bad_rows = sorted({index for index, _, _ in problems})
        if len(bad_rows) == rows:
            summary = Problem(source, f"no valid rows: all {rows} rows of the {spec.what} have problems")
            raise InputError((summary, *found))
        result = result.drop(index=bad_rows)
    result = result.sort_values([spec.time, spec.key], kind="stable").reset_index(drop=True)
    return LoadedLog(frame=result, source=source, dropped=found, ignored_columns=ignored)


def _normalise_header(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    names = [str(name).strip().lower() for name in frame.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(Problem(source, "column appears more than once", field=name) for name in repeated)
    frame = frame.reset_index(drop=True)
    frame.columns = pd.Index(names)
    return frame


def _check_required_columns(frame: pd.DataFrame, spec: _LogSpec, source: str) -> None:
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if not missing:
        return
    found = ", ".join(frame.columns) if len(frame.columns) else "none"
    hint = ""
    if spec is _TRADE_SPEC and "pair" in frame.columns and _FREQTRADE_MARKERS & set(frame.columns) - {"pair"}:
        hint = (
            "; this looks like a freqtrade export or database: convert it first with "
            f"`playbook-tuner import-freqtrade {source} --out trades.csv`"
        )
    raise InputError(
        Problem(source, f"required column is missing (columns found: {found}){hint}", field=name) for name in missing
    )


def _default_column(column: _Column, rows: int) -> pd.Series:
    if column.kind == "number":
        fill = np.nan if column.default is None else float(column.default)
        return pd.Series(np.full(rows, fill), dtype="float64")
    return pd.Series([column.default] * rows, dtype="str")


# --- parsers, one per kind ---------------------------------------------------------------------


def _missing(raw: pd.Series) -> pd.Series:
    missing = raw.isna()
    if not (pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype)):
        missing |= raw.astype("str").str.strip().eq("").fillna(False)
    return missing.reset_index(drop=True)


def _as_text(raw: pd.Series) -> pd.Series:
    """Values as stripped ``str``, NA where missing or blank; integral floats are written without '.0'."""
    if pd.api.types.is_float_dtype(raw.dtype):
        present = raw.dropna()
        if np.isfinite(present).all() and (present == np.round(present)).all():
            raw = raw.astype("Int64")
    text = raw.astype("str").str.strip()
    return text.mask(text.eq("").fillna(False)).reset_index(drop=True)


def _as_float(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as float64 and a mask of present values that are not numbers."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        numbers = pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan))
        return numbers, pd.Series(np.zeros(len(raw), dtype=bool))
    text = _as_text(raw)
    numbers = pd.Series(pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    return numbers, text.notna() & numbers.isna()


def _parse_text(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    return _as_text(raw), []


def _parse_symbol(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    symbols = _as_text(raw).str.upper()
    bad = symbols.notna() & ~symbols.str.fullmatch(_SYMBOL_PATTERN).fillna(False)
    failure = "symbol '{value}' is not BASE/QUOTE such as BTC/USDT (futures: BTC/USDT:USDT)"
    return symbols.mask(bad), [(bad, failure)]


def _parse_choice(raw: pd.Series, choices: tuple[str, ...], what: str) -> tuple[pd.Series, list[_Failure]]:
    words = _as_text(raw).str.lower()
    bad = words.notna() & ~words.isin(choices)
    return words.mask(bad), [(bad, f"unknown {what} '{{value}}' (expected one of {', '.join(choices)})")]


def _parse_side(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    return _parse_choice(raw, SIDES, "side")


def _parse_regime(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    return _parse_choice(raw, tuple(REGIMES), "regime")


def _parse_exit_reason(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    reasons = _as_text(raw).str.lower().map(_EXIT_REASON_SYNONYMS).fillna("other")
    return reasons.astype("str"), []


def _parse_timeframe(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    timeframes = _as_text(raw)
    bad = timeframes.notna() & ~timeframes.str.fullmatch(_TIMEFRAME_PATTERN).fillna(False)
    return timeframes.mask(bad), [(bad, "'{value}' is not a freqtrade timeframe such as 5m, 1h or 1d")]


def _parse_flag(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    words = _as_text(raw).str.lower()
    flags = words.map(_FLAGS)
    bad = words.notna() & flags.isna()
    return flags.eq(True).astype(bool), [(bad, "'{value}' is not true/false, 1/0 or yes/no")]


def _parse_number(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    numbers, unparsable = _as_float(raw)
    infinite = numbers.notna() & ~np.isfinite(numbers)
    failures: list[_Failure] = [
        (unparsable, "'{value}' is not a number"),
        (infinite, "'{value}' is not finite"),
    ]
    bad = unparsable | infinite
    if column.minimum is not None:
        if column.minimum_inclusive:
            below, sign = numbers < column.minimum, ">="
        else:
            below, sign = numbers <= column.minimum, ">"
        below &= ~infinite
        failures.append((below, f"{column.name} must be {sign} {column.minimum:g}, got {{value}}"))
        bad |= below
    return numbers.mask(bad), failures


def _parse_confidence(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    numbers, unparsable = _as_float(raw)
    outside = numbers.notna() & ~numbers.between(0.0, 100.0)
    valid = numbers.notna() & ~outside
    if (numbers[valid] > 1.0).any():
        numbers = numbers / 100.0
    failures: list[_Failure] = [
        (unparsable, "'{value}' is not a number"),
        (outside, "confidence {value} is outside [0, 100] (give a fraction 0-1 or percent 0-100)"),
    ]
    return numbers.where(valid), failures


def _parse_time(raw: pd.Series, column: _Column) -> tuple[pd.Series, list[_Failure]]:
    parsed = parse_times(raw)
    failures: list[_Failure] = [
        (parsed.unparsable, "'{value}' is not a time (expected ISO-8601 such as 2024-01-31T12:00:00Z, or epoch ms)"),
        (parsed.outside, _OUTSIDE_TIME),
        (parsed.epoch_outside, _OUTSIDE_TIME + " (epoch times must be in milliseconds, not seconds)"),
    ]
    return parsed.times, failures


_OUTSIDE_TIME = "time '{value}' is outside 1990-2199"

_PARSERS: dict[str, _Parser] = {
    "key": _parse_text,
    "text": _parse_text,
    "symbol": _parse_symbol,
    "side": _parse_side,
    "time": _parse_time,
    "number": _parse_number,
    "confidence": _parse_confidence,
    "regime": _parse_regime,
    "exit_reason": _parse_exit_reason,
    "flag": _parse_flag,
    "timeframe": _parse_timeframe,
}


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
