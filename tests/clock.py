"""A settable clock for the decisions' expiry and the schedule, standing in for the wall clock."""

from __future__ import annotations

from datetime import datetime


class Clock:
    """A settable clock standing in for the wall clock."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now
