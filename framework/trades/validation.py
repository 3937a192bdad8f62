"""The one validator of both logs: a raw frame, its spec -> the canonical frame, every problem named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.errors import InputError, Problem
from framework.regimes import REGIMES
from framework.times import parse_times
from framework.trades.specs import (
    EXIT_REASON_SYNONYMS,
    FLAGS,
    SIDES,
    SIGNAL_SPEC,
    SYMBOL_PATTERN,
    TIMEFRAME_PATTERN,
    TRADE_SPEC,
    Column,
    LogSpec,
)

_FREQTRADE_MARKERS = frozenset({"pair", "open_date", "close_date", "open_rate", "close_rate", "is_open"})


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


def validate_trades(frame: pd.DataFrame, *, source: str, lenient: bool = False) -> LoadedLog:
    """Validate a raw trade-log frame into the canonical one; ``source`` names the file in messages."""
    return _validate(frame, TRADE_SPEC, source, lenient)


def validate_signals(frame: pd.DataFrame, *, source: str, lenient: bool = False) -> LoadedLog:
    """Validate a raw signal-log frame into the canonical one; ``source`` names the file in messages."""
    return _validate(frame, SIGNAL_SPEC, source, lenient)


# --- the validator -----------------------------------------------------------------------------

# A parser turns a raw column into canonical values (NA where missing or bad) and lists its
# failures: a mask of bad rows and a message formatted with the raw value.
_Failure = tuple[pd.Series, str]
_Parser = Callable[[pd.Series, Column], tuple[pd.Series, list[_Failure]]]


def _validate(frame: pd.DataFrame, spec: LogSpec, source: str, lenient: bool) -> LoadedLog:
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


def _check_required_columns(frame: pd.DataFrame, spec: LogSpec, source: str) -> None:
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if not missing:
        return
    found = ", ".join(frame.columns) if len(frame.columns) else "none"
    hint = ""
    if spec is TRADE_SPEC and "pair" in frame.columns and _FREQTRADE_MARKERS & set(frame.columns) - {"pair"}:
        hint = (
            "; this looks like a freqtrade export or database: convert it first with "
            f"`playbook-tuner import-freqtrade {source} --out trades.csv`"
        )
    raise InputError(
        Problem(source, f"required column is missing (columns found: {found}){hint}", field=name) for name in missing
    )


def _default_column(column: Column, rows: int) -> pd.Series:
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


def _parse_text(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    return _as_text(raw), []


def _parse_symbol(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    symbols = _as_text(raw).str.upper()
    bad = symbols.notna() & ~symbols.str.fullmatch(SYMBOL_PATTERN).fillna(False)
    failure = "symbol '{value}' is not BASE/QUOTE such as BTC/USDT (futures: BTC/USDT:USDT)"
    return symbols.mask(bad), [(bad, failure)]


def _parse_choice(raw: pd.Series, choices: tuple[str, ...], what: str) -> tuple[pd.Series, list[_Failure]]:
    words = _as_text(raw).str.lower()
    bad = words.notna() & ~words.isin(choices)
    return words.mask(bad), [(bad, f"unknown {what} '{{value}}' (expected one of {', '.join(choices)})")]


def _parse_side(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    return _parse_choice(raw, SIDES, "side")


def _parse_regime(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    return _parse_choice(raw, tuple(REGIMES), "regime")


def _parse_exit_reason(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    reasons = _as_text(raw).str.lower().map(EXIT_REASON_SYNONYMS).fillna("other")
    return reasons.astype("str"), []


def _parse_timeframe(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    timeframes = _as_text(raw)
    bad = timeframes.notna() & ~timeframes.str.fullmatch(TIMEFRAME_PATTERN).fillna(False)
    return timeframes.mask(bad), [(bad, "'{value}' is not a freqtrade timeframe such as 5m, 1h or 1d")]


def _parse_flag(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
    words = _as_text(raw).str.lower()
    flags = words.map(FLAGS)
    bad = words.notna() & flags.isna()
    return flags.eq(True).astype(bool), [(bad, "'{value}' is not true/false, 1/0 or yes/no")]


def _parse_number(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
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


def _parse_confidence(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
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


def _parse_time(raw: pd.Series, column: Column) -> tuple[pd.Series, list[_Failure]]:
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
