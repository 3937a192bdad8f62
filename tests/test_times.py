"""The one time rule of the logs and the candles: datetimes, epoch milliseconds, ISO-8601; 1990-2199."""

from __future__ import annotations

import pandas as pd
import pytest

from framework.times import parse_times, utc_time

NOON = pd.Timestamp("2024-03-01T12:00:00Z")
NOON_MS = NOON.value // 1_000_000


def test_one_column_may_mix_iso_offsets_naive_text_and_epoch_ms() -> None:
    raw = pd.Series(["2024-03-01T12:00:00Z", "2024-03-01T14:00:00+02:00", "2024-03-01 12:00:00", str(NOON_MS)])
    parsed = parse_times(raw)
    assert (parsed.times == NOON).all()
    assert str(parsed.times.dtype) == "datetime64[ns, UTC]"
    assert not (parsed.unparsable | parsed.outside | parsed.epoch_outside).any()


def test_numbers_are_epoch_milliseconds_rounded_to_the_millisecond() -> None:
    parsed = parse_times(pd.Series([NOON_MS, NOON_MS + 0.4, NOON_MS + 0.6]))
    assert parsed.times.tolist() == [NOON, NOON, NOON + pd.Timedelta(milliseconds=1)]


@pytest.mark.parametrize("value", [NOON_MS // 1000, NOON_MS * 1000, -NOON_MS])
def test_epoch_numbers_outside_1990_2199_are_reported_as_such(value: int) -> None:
    for raw in (pd.Series([value]), pd.Series([str(value)])):
        parsed = parse_times(raw)
        assert parsed.epoch_outside.tolist() == [True]
        assert parsed.times.isna().all() and not parsed.outside.any() and not parsed.unparsable.any()


def test_datetimes_and_text_outside_1990_2199_are_outside() -> None:
    naive = pd.Series([pd.Timestamp("1989-12-31"), pd.Timestamp("2024-03-01 12:00")])
    parsed = parse_times(naive)
    assert parsed.outside.tolist() == [True, False]
    assert parsed.times.iloc[1] == NOON
    assert parse_times(pd.Series(["2200-01-01T00:00:00Z"])).outside.tolist() == [True]


def test_missing_values_are_nat_without_a_fault_and_text_that_is_no_time_is_unparsable() -> None:
    parsed = parse_times(pd.Series([None, "  ", "yesterday"], dtype="object"))
    assert parsed.times.isna().all()
    assert parsed.unparsable.tolist() == [False, False, True]


def test_one_time_written_by_hand() -> None:
    assert utc_time(None) is None
    assert utc_time("2024-03-01T14:00:00+02:00") == NOON
    assert utc_time("2024-03-01 12:00") == NOON
    with pytest.raises(ValueError, match="'1970-01-02' is not an ISO-8601 time"):
        utc_time("1970-01-02")
