"""What a search is: the regime, the space, the objective and constraints (:class:`SearchSpec`), and
where a worker finds its data (:class:`DataRef`); both checked on creation, JSON for the study."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
from pydantic import ConfigDict, TypeAdapter, ValidationError

from framework.errors import InputError, Problem
from framework.playbook import DEFAULT_REGIME, TUNABLE_PARAMETERS
from framework.regimes import REGIMES
from framework.replay.kernels import METRIC_NAMES
from framework.times import utc_time

SPEC_SOURCE = "search spec"


@dataclass(frozen=True)
class DataRef:
    """Where a worker finds the data of a search. Paths as given (relative ones resolve against the
    worker's working directory); times ISO-8601 (UTC when no offset is given) or epoch milliseconds,
    in 1990-2199 (:func:`framework.times.utc_time`).

    The worker loads ``trades`` (trade log), ``prices`` (candle folder), ``playbook`` (the base
    playbook) and ``config`` (replay settings; ``None`` = the defaults or ``$PLAYBOOK_TUNER_CONFIG``),
    labels regimes, and keeps the trades with ``entry_time`` in ``[window_start, window_end)``.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    trades: str
    prices: str
    playbook: str
    config: str | None = None
    window_start: str | None = None
    window_end: str | None = None

    def __post_init__(self) -> None:
        problems = [
            Problem(SPEC_SOURCE, "must not be empty", field=f"data.{name}")
            for name in ("trades", "prices", "playbook")
            if not getattr(self, name).strip()
        ]
        for name in ("window_start", "window_end"):
            try:
                utc_time(getattr(self, name))
            except ValueError as exc:
                problems.append(Problem(SPEC_SOURCE, str(exc), field=f"data.{name}"))
        if not problems:
            start, end = self.window()
            if start is not None and end is not None and start >= end:
                message = f"window end {end} is not after its start {start}"
                problems.append(Problem(SPEC_SOURCE, message, field="data.window_end"))
        if problems:
            raise InputError(problems)

    def window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The window's start and end as UTC timestamps (``None`` = open on that side)."""
        return utc_time(self.window_start), utc_time(self.window_end)


@dataclass(frozen=True)
class SearchSpec:
    """What to search: ``space`` maps playbook parameters of ``regime`` to inclusive ``(low, high)``
    float ranges (fractions, as in the playbook), searched to maximise the replay metric ``objective``.

    Constraints: ``max_drawdown_floor`` (a negative fraction, e.g. -0.3) makes a trial feasible only
    when its ``max_drawdown >= floor``; unless ``allow_liquidations``, a trial with a liquidation is
    infeasible. ``n_trials`` is the study's budget of complete trials, shared by every process that
    works on it; ``data`` lets a worker elsewhere rebuild the same replay (see :class:`DataRef`).
    Invalid specs raise ``InputError`` naming the field.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    study_name: str
    regime: str
    space: dict[str, tuple[float, float]]
    objective: str = "log_growth"
    max_drawdown_floor: float | None = None
    allow_liquidations: bool = False
    seed: int = 0
    n_trials: int = 50
    data: DataRef | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []

        def add(name: str, message: str) -> None:
            problems.append(Problem(SPEC_SOURCE, message, field=name))

        if not self.study_name.strip():
            add("study_name", "must not be empty")
        regimes = (DEFAULT_REGIME, *REGIMES)
        if self.regime not in regimes:
            add("regime", f"unknown regime '{self.regime}'; use one of {', '.join(regimes)}")
        if not self.space:
            add("space", "names no parameter; give at least one of " + ", ".join(TUNABLE_PARAMETERS))
        for parameter, (low, high) in self.space.items():
            if parameter not in TUNABLE_PARAMETERS:
                add(
                    f"space.{parameter}",
                    f"'{parameter}' cannot be searched; searchable: {', '.join(TUNABLE_PARAMETERS)}",
                )
            elif not (math.isfinite(low) and math.isfinite(high)) or low > high:
                add(f"space.{parameter}", f"range [{low:g}, {high:g}] must be finite with low <= high")
        if self.objective not in METRIC_NAMES:
            add("objective", f"unknown metric '{self.objective}'; use one of {', '.join(METRIC_NAMES)}")
        floor = self.max_drawdown_floor
        if floor is not None and not -1.0 <= floor <= 0.0:
            add("max_drawdown_floor", f"{floor:g} is not a drawdown; give a fraction in [-1, 0], e.g. -0.3")
        if self.seed < 0:
            add("seed", f"must be >= 0, got {self.seed}")
        if self.n_trials < 1:
            add("n_trials", f"must be >= 1, got {self.n_trials}")
        if problems:
            raise InputError(problems)

    def to_json(self) -> str:
        """The spec as JSON text (ranges as two-element lists)."""
        return _SPEC_ADAPTER.dump_json(self).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> SearchSpec:
        """Read a spec written by :meth:`to_json`; ``InputError`` naming the field when it is not one."""
        try:
            return _SPEC_ADAPTER.validate_json(text)
        except ValidationError as exc:
            raise InputError(
                Problem(SPEC_SOURCE, err["msg"], field=".".join(str(p) for p in err["loc"]) or None)
                for err in exc.errors()
            ) from None


_SPEC_ADAPTER = TypeAdapter(SearchSpec)
