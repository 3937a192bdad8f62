"""Errors the framework raises on purpose. Their messages are written for the user.

Every problem with input data is a :class:`Problem` that names the file and, where it applies,
the row and the field, so that a user can open the file and fix it. Rows are counted from 1 over
the data rows (a CSV header is not a row).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_PROBLEMS_IN_MESSAGE = 20


class PlaybookTunerError(Exception):
    """Base class of every error raised on purpose; the message says what to do."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong."""

    file: str
    message: str
    row: int | None = None
    field: str | None = None

    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"


class InputError(PlaybookTunerError):
    """An input (trade log, candles, playbook, config) is malformed. Nothing was changed."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("InputError needs at least one problem")
        super().__init__(_format(self.problems))

    @classmethod
    def single(cls, file: str, message: str, *, row: int | None = None, field: str | None = None) -> InputError:
        return cls([Problem(file=file, message=message, row=row, field=field)])


class StoreError(PlaybookTunerError):
    """The store refused an operation (unknown version, newer schema, failed write)."""


def _format(problems: tuple[Problem, ...]) -> str:
    if len(problems) == 1:
        return str(problems[0])
    shown = [f"  {p}" for p in problems[:MAX_PROBLEMS_IN_MESSAGE]]
    hidden = len(problems) - len(shown)
    if hidden:
        shown.append(f"  ... and {hidden} more")
    return f"{len(problems)} problems:\n" + "\n".join(shown)
