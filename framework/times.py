"""Times as the framework reads them from files: one rule for the trade log, the signal log and candles.

:func:`parse_times` takes a column of raw values and gives ``datetime64[ns, UTC]``:

- datetimes stay as they are (naive ones are taken as UTC, aware ones converted to UTC);
- numbers, and text that is a number (``1704067200000``, ``1704067200000.0``), are epoch
  MILLISECONDS, rounded to the nearest millisecond;
- any other text is ISO-8601 (``2024-01-31T12:00:00Z``; with an offset, or naive = UTC).

Each value is read on its own, so one column may mix the three. Every time must fall in
[:data:`EARLIEST`, :data:`LATEST`), i.e. 1990-2199: an epoch number outside it is reported apart
from other times outside it, since it is almost surely epoch seconds (1990-2199 in seconds reads as
January to March 1970 in milliseconds), or micro- or nanoseconds (far beyond 2199).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
"""The earliest time accepted."""
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
"""The first time no longer accepted."""
TIME_TYPE = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class ParsedTimes:
    """A parsed column, positionally aligned with its input (RangeIndex).

    ``times`` is NaT wherever a value is missing (NA or blank text) or bad; the masks say which bad:
    ``unparsable`` text that is neither a number nor ISO-8601, ``outside`` a datetime or ISO-8601
    time outside 1990-2199, ``epoch_outside`` an epoch number outside it (seconds, probably).
    """

    times: pd.Series
    unparsable: pd.Series
    outside: pd.Series
    epoch_outside: pd.Series


def parse_times(raw: pd.Series) -> ParsedTimes:
    """Read ``raw`` by the module's rule (datetimes, epoch milliseconds or ISO-8601; 1990-2199)."""
    raw = raw.reset_index(drop=True)
    none = pd.Series(np.zeros(len(raw), dtype=bool))
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        times = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        outside = _outside(times)
        return ParsedTimes(times.mask(outside).astype(TIME_TYPE), none, outside, none)
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        text = pd.Series([pd.NA] * len(raw), dtype="str")
        millis = pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan))
        is_epoch = millis.notna()
    else:
        text = raw.astype("str").str.strip().mask(raw.isna())
        text = text.mask(text.eq("").fillna(False))
        is_epoch = text.str.fullmatch(r"-?\d+(?:\.\d+)?").fillna(False).astype(bool)
        millis = pd.Series(pd.to_numeric(text.where(is_epoch), errors="coerce"), dtype="float64")
    low, high = EARLIEST.value // 1_000_000, LATEST.value // 1_000_000
    epoch_outside = is_epoch & ~((millis >= low) & (millis < high))
    from_epoch = pd.to_datetime(np.rint(millis.where(is_epoch & ~epoch_outside)), unit="ms", utc=True)
    from_text = pd.to_datetime(text.where(~is_epoch), format="ISO8601", utc=True, errors="coerce")
    unparsable = text.notna() & ~is_epoch & from_text.isna()
    outside = _outside(from_text)
    times = from_text.mask(outside).astype(TIME_TYPE).where(~is_epoch, from_epoch.astype(TIME_TYPE))
    return ParsedTimes(times, unparsable, outside, epoch_outside)


def utc_time(text: str | None) -> pd.Timestamp | None:
    """One time a person wrote (a window's start, say), by :func:`parse_times`' rule; None stays None.

    ``ValueError`` naming ``text`` when it is no time or outside 1990-2199.
    """
    if text is None:
        return None
    stamp = parse_times(pd.Series([text], dtype="str")).times.iloc[0]
    if pd.isna(stamp):
        raise ValueError(f"'{text}' is not an ISO-8601 time (or epoch milliseconds) in 1990-2199")
    return stamp


def _outside(times: pd.Series) -> pd.Series:
    return times.notna() & ((times < EARLIEST) | (times >= LATEST))
