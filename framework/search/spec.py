"""What a search is: the regime, the space, the objective and constraints (:class:`SearchSpec`), and
where a worker finds its data (:class:`DataRef`); both checked on creation, JSON for the study."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pandas as pd
from pydantic import ConfigDict, TypeAdapter, ValidationError

from framework.config import Settings
from framework.errors import InputError, Problem
from framework.playbook import DEFAULT_REGIME, TUNABLE_PARAMETERS
from framework.regimes import REGIMES
from framework.replay.kernels import METRIC_NAMES
from framework.times import utc_time

SPEC_SOURCE = "search spec"


@dataclass(frozen=True)
class DataRef:
    """Where a worker finds the data of a search, and how the process that created it read them. Paths
    as given (relative ones resolve against the worker's working directory); times ISO-8601 (UTC when
    no offset is given) or epoch milliseconds, in 1990-2199 (:func:`framework.times.utc_time`).

    The worker reads ``trades`` (trade log) and ``signals`` (signal log, optional) with ``lenient`` as
    given, ``prices`` (candle folder) and ``playbook`` (the base playbook), with ``settings`` (the
    sections of :class:`~framework.config.Settings` that shape the replay, see :func:`search_settings`;
    ``None`` = the defaults or ``$PLAYBOOK_TUNER_CONFIG``); labels regimes; keeps the trades with
    ``entry_time`` in ``[window_start, window_end)`` and, with ``exits_before``, ``exit_time`` before it,
    and (when a window is set) only the signals entering between the first and last of them; and
    replays those trades with the signals the bot left out for their confidence, as a tune does.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    trades: str
    prices: str
    playbook: str
    signals: str | None = None
    settings: dict[str, Any] | None = None
    lenient: bool = False
    window_start: str | None = None
    window_end: str | None = None
    exits_before: str | None = None

    def __post_init__(self) -> None:
        problems = [
            Problem(SPEC_SOURCE, "must not be empty", field=f"data.{name}")
            for name in ("trades", "prices", "playbook")
            if not getattr(self, name).strip()
        ]
        for name in ("window_start", "window_end", "exits_before"):
            try:
                utc_time(getattr(self, name))
            except ValueError as exc:
                problems.append(Problem(SPEC_SOURCE, str(exc), field=f"data.{name}"))
        if not problems:
            start, end = self.window()
            if start is not None and end is not None and start >= end:
                message = f"window end {end} is not after its start {start}"
                problems.append(Problem(SPEC_SOURCE, message, field="data.window_end"))
        try:
            Settings.model_validate(self.settings or {})
        except ValidationError as exc:
            problems.extend(
                Problem(SPEC_SOURCE, err["msg"], field=".".join(("data.settings", *map(str, err["loc"]))))
                for err in exc.errors()
            )
        if problems:
            raise InputError(problems)

    def window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The window's start and end as UTC timestamps (``None`` = open on that side)."""
        return utc_time(self.window_start), utc_time(self.window_end)

    def within(self, trades: pd.DataFrame) -> DataRef:
        """This reference narrowed to exactly ``trades``, a window of the trades it reads that holds
        every one of them entering from its first entry to its last and exiting by its last exit (a
        tune's windows: the trades exiting before a block begins)."""
        last = pd.Timedelta(1, "ns")
        return replace(
            self,
            window_start=trades["entry_time"].min().isoformat(),
            window_end=(trades["entry_time"].max() + last).isoformat(),
            exits_before=(trades["exit_time"].max() + last).isoformat(),
        )


def search_settings(settings: Settings) -> dict[str, Any]:
    """The sections of ``settings`` a worker needs to read the logs and replay them as this process
    does (for :attr:`DataRef.settings`): the replay's, and how a freqtrade log's confidence is read.
    Nothing secret (the API password, the Telegram token) is included."""
    reading = settings.freqtrade.model_dump(include={"confidence", "confidence_tag_pattern", "confidence_column"})
    return {"replay": settings.replay.model_dump(mode="json"), "freqtrade": reading}


@dataclass(frozen=True)
class SearchSpec:
    """What to search: ``space`` maps playbook parameters of ``regime`` to inclusive ``(low, high)``
    float ranges (fractions, as in the playbook), searched to maximise the replay metric ``objective``.

    Constraints: ``max_drawdown_floor`` (a negative fraction, e.g. -0.3) makes a trial feasible only
    when its ``max_drawdown >= floor``; unless ``allow_liquidations``, a trial with a liquidation is
    infeasible. ``n_trials`` is the study's budget of complete trials, shared by every process that
    works on it; each process asks for ``batch`` trials at once and replays them as one sweep (the
    sampler sees none of a batch's results before proposing its other points); ``data`` lets a worker
    elsewhere rebuild the same replay (see :class:`DataRef`).
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
    batch: int = 16
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
        if self.batch < 1:
            add("batch", f"must be >= 1, got {self.batch}")
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
