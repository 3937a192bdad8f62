"""Optuna search over one regime's playbook parameters, scored by replaying the training trades.

A :class:`SearchSpec` names the study, the regime, the parameter space and the objective (a replay
metric, maximised) with optional constraints (a drawdown floor, no liquidations). Every trial
suggests each parameter of the space, replays the prepared trades under the base playbook with those
values set in the regime's block, records the replay's metrics on the trial and returns the
objective.

Several processes or machines can share one search: they open the same study (same name, same
storage; see :func:`storage_from_url`) and draw trials from one budget of ``spec.n_trials`` complete
trials. The study carries the spec, so a worker (:func:`run_worker`, ``playbook-tuner worker``)
needs only the study name and the storage URL; it rebuilds the replay from the spec's
:class:`DataRef` and refuses to run when its data, playbook or replay settings differ from the ones
the study was created with.

The budget is exact: a trial counts against it from the moment it is created, and a trial created
when the budget is already taken by earlier trials (by trial number) is closed at once as FAIL with
the user attribute ``surplus`` and is never evaluated. A worker killed mid-trial leaves a RUNNING
trial that keeps its budget slot (Optuna's heartbeat is not used).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import optuna
import pandas as pd
import sqlalchemy.exc
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from pydantic import ConfigDict, TypeAdapter, ValidationError

from framework.config import ReplaySettings, load_settings
from framework.errors import InputError, Problem
from framework.market import load_market
from framework.playbook import DEFAULT_REGIME, TUNABLE_PARAMETERS, ParameterChange, Playbook, load_playbook
from framework.regimes import REGIMES, label_trades
from framework.replay import ReplayInputs, prepare, replay_tables, tables_for_changes
from framework.replay.kernels import METRIC_NAMES
from framework.trades import load_trades

NON_FINITE_OBJECTIVE = -1e12
"""Score of a trial whose objective metric is NaN or infinite (e.g. ``sharpe`` when no trade is taken,
``log_growth`` of a wiped-out account, ``profit_factor`` with no losing trade): below any real score,
so the sampler moves away from it and it is never the best unless every trial scores it."""

SPEC_SOURCE = "search spec"
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
JOURNAL_PREFIX = "journal://"
JOURNAL_SUFFIXES = (".log", ".jsonl")
STORAGE_FORMS = (
    "sqlite:///path/to/file.db, postgresql://user:password@host/database, mysql://..., "
    "journal:///path/to/file.log, or a file path ending in .log or .jsonl (journal file)"
)
WAIT_POLL_SECONDS = 0.2
_FINGERPRINTED_ARRAYS = (
    "entry_ns", "entry_price", "direction", "confidence", "group", "strategy", "logged_exit_ns",
    "times", "opens", "closes", "low_tree", "high_tree", "funding_cumulative",
)  # fmt: skip

# Study user attributes that let every process check it replays what the study was created for.
_ATTR_SPEC = "spec"
_ATTR_SETTINGS = "replay_settings"
_ATTR_PLAYBOOK = "playbook_sha256"
_ATTR_DATA = "data_fingerprint"
_ATTR_TRADES = "trades"
# Trial user attributes.
_ATTR_METRICS = "metrics"
_ATTR_SURPLUS = "surplus"
_ATTR_WORKER_HOST = "worker_host"
_ATTR_WORKER_PID = "worker_pid"

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataRef:
    """Where a worker finds the data of a search. Paths as given (relative ones resolve against the
    worker's working directory); times ISO-8601, UTC when no offset is given.

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
                _utc_time(getattr(self, name))
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
        return _utc_time(self.window_start), _utc_time(self.window_end)


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


@dataclass(frozen=True)
class SearchResult:
    """What a search found.

    ``best_params``/``best_value``: the best feasible complete trial (ties go to the earlier trial);
    ``{}`` and NaN when no complete trial is feasible. ``n_trials``: complete trials in the study
    (every process's, the number of candidates tried); ``n_feasible``: those meeting every
    constraint. ``seconds``: wall time of this call. ``trials``: one row per trial of the study
    (surplus trials left out), columns ``number``, one per searched parameter, ``value``,
    ``feasible``, ``state`` (Optuna's state name). ``notes``: what was adjusted, e.g. a range clamped
    to the playbook's bounds.
    """

    best_params: dict[str, float]
    best_value: float
    n_trials: int
    n_feasible: int
    seconds: float
    trials: pd.DataFrame
    notes: tuple[str, ...] = field(default=())


def storage_from_url(url: str | None) -> optuna.storages.BaseStorage | None:
    """An Optuna storage for ``url``: ``None`` for in-memory (one process only); ``sqlite:///path.db``,
    ``postgresql://...`` or ``mysql://...`` for an RDB storage; ``journal:///abs/path.log``,
    ``journal://relative/path.log`` or a plain path ending in ``.log``/``.jsonl`` for a journal file
    (safe on NFS). Anything else, or a storage that cannot be opened, is an ``InputError``.
    """
    if url is None:
        return None
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    if scheme in RDB_SCHEMES:
        try:
            return RDBStorage(url)
        except ImportError:
            raise InputError.single(
                url, f"no database driver for {scheme} is installed; install one or use another storage"
            ) from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            reason = str(exc.orig) if isinstance(exc, sqlalchemy.exc.DBAPIError) else str(exc)
            raise InputError.single(url, f"cannot open this storage: {reason}") from None
    if url.startswith(JOURNAL_PREFIX):
        path = url.removeprefix(JOURNAL_PREFIX)
    elif not scheme and url.lower().endswith(JOURNAL_SUFFIXES):
        path = url
    else:
        raise InputError.single(url or "<empty storage url>", f"not a storage URL; accepted: {STORAGE_FORMS}")
    if not path:
        raise InputError.single(url, f"the journal URL names no file; accepted: {STORAGE_FORMS}")
    try:
        return JournalStorage(JournalFileBackend(path))
    except OSError as exc:
        raise InputError.single(url, f"cannot open the journal file: {exc.strerror}") from None


class ReplayObjective:
    """Optuna objective: ``objective(trial) -> float`` scores one point of ``spec.space``.

    The space is clamped into ``base.bounds`` first (see ``notes``). Each call suggests every
    parameter as a float, replays ``inputs`` under ``base`` with those values set in ``spec.regime``,
    stores the replay's metrics (``METRIC_NAMES``) as the trial's user attribute ``metrics`` and the
    worker's host and pid as ``worker_host``/``worker_pid``, sets the constraints (value <= 0 is
    feasible: ``max_drawdown_floor`` = floor - max_drawdown, ``liquidations`` = their count) and
    returns ``metrics[spec.objective]``, or :data:`NON_FINITE_OBJECTIVE` when that is not finite.
    """

    def __init__(self, spec: SearchSpec, inputs: ReplayInputs, base: Playbook, settings: ReplaySettings):
        self.spec = spec
        self.inputs = inputs
        self.base = base
        self.settings = settings
        self.space, self.notes = _clamp_space(spec, base)

    def __call__(self, trial: optuna.trial.Trial) -> float:
        values = {name: trial.suggest_float(name, low, high) for name, (low, high) in self.space.items()}
        changes = [ParameterChange(self.spec.regime, name, value) for name, value in values.items()]
        tables = tables_for_changes(self.inputs, self.base, [changes])
        row = replay_tables(self.inputs, tables, self.settings).metrics.iloc[0]
        metrics = {name: float(row[name]) for name in METRIC_NAMES}
        trial.set_user_attr(_ATTR_METRICS, metrics)
        trial.set_user_attr(_ATTR_WORKER_HOST, socket.gethostname())
        trial.set_user_attr(_ATTR_WORKER_PID, os.getpid())
        for key, value in self.constraints(metrics).items():
            trial.set_constraint(key, value)
        score = metrics[self.spec.objective]
        return score if math.isfinite(score) else NON_FINITE_OBJECTIVE

    def constraints(self, metrics: dict[str, float]) -> dict[str, float]:
        """Constraint values of a replay's metrics; a trial is feasible when every value is <= 0."""
        out: dict[str, float] = {}
        if self.spec.max_drawdown_floor is not None:
            drawdown = metrics["max_drawdown"]
            out["max_drawdown_floor"] = self.spec.max_drawdown_floor - drawdown if math.isfinite(drawdown) else math.inf
        if not self.spec.allow_liquidations:
            out["liquidations"] = metrics["liquidations"]
        return out


def open_study(
    spec: SearchSpec,
    storage: str | None,
    inputs: ReplayInputs,
    base: Playbook,
    settings: ReplaySettings,
) -> optuna.Study:
    """Create the study ``spec.study_name`` in ``storage`` (a URL, see :func:`storage_from_url`), or
    load it when it exists, with a TPE sampler seeded with ``spec.seed``.

    A new study records the spec, the replay settings and fingerprints of the playbook and the
    prepared trades, so workers can join it. An existing study must have been created for the same
    spec and the same data; otherwise ``InputError`` says what differs.
    """
    study = optuna.create_study(
        study_name=spec.study_name,
        storage=storage_from_url(storage),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        load_if_exists=True,
    )
    if _ATTR_SPEC not in study.user_attrs:
        study.set_user_attr(_ATTR_SPEC, spec.to_json())
        study.set_user_attr(_ATTR_SETTINGS, settings.model_dump())
        study.set_user_attr(_ATTR_PLAYBOOK, base.sha256())
        study.set_user_attr(_ATTR_DATA, _fingerprint(inputs))
        study.set_user_attr(_ATTR_TRADES, len(inputs.trade_id))
    elif _stored_spec(study, storage) != spec:
        raise InputError.single(
            _study_label(spec.study_name, storage),
            "this study already exists with a different search spec; choose another study name",
            field="study_name",
        )
    _check_same_replay(study, storage, inputs, base, settings)
    return study


def run_search(
    spec: SearchSpec,
    inputs: ReplayInputs,
    base: Playbook,
    settings: ReplaySettings,
    storage: str | None = None,
    *,
    wait_seconds: float = 300.0,
) -> SearchResult:
    """Search ``spec.space`` until the study holds ``spec.n_trials`` complete trials; the best feasible.

    ``storage`` is a URL (see :func:`storage_from_url`); ``None`` keeps the study in memory. With a
    shared storage, workers may take part of the budget; once it is all claimed this call waits up to
    ``wait_seconds`` for their running trials before it reports. In one process the result is
    reproducible: the same spec and data give the same trials and the same best parameters.
    """
    started = time.perf_counter()
    objective = ReplayObjective(spec, inputs, base, settings)
    for note in objective.notes:
        _logger.warning("%s: %s", spec.study_name, note)
    study = open_study(spec, storage, inputs, base, settings)
    _run_trials(study, objective, budget=spec.n_trials, limit=None)
    _wait_for_running(study, wait_seconds)
    return _result(study, objective, time.perf_counter() - started)


def run_worker(study_name: str, storage: str, n_trials: int | None = None) -> SearchResult:
    """Join the study ``study_name`` in ``storage`` (a URL) and run trials until its budget
    (``spec.n_trials`` complete trials) is claimed, or, with ``n_trials``, run that many more trials.

    The spec comes from the study (it must carry a :class:`DataRef`); the worker rebuilds the replay
    from it (:func:`load_search_data`). Its sampler is seeded from the spec's seed and the process id,
    so two workers do not propose the same points. ``InputError`` when the study is unknown, was not
    made by :func:`open_study`, has no data reference, or the data found differs from the study's.
    """
    if n_trials is not None and n_trials < 1:
        raise InputError.single("worker", f"--trials must be >= 1, got {n_trials}", field="n_trials")
    started = time.perf_counter()
    backend = storage_from_url(storage)
    if backend is None:
        raise InputError.single("worker", "a worker needs a shared storage URL", field="storage")
    label = _study_label(study_name, storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        known = ", ".join(optuna.get_all_study_names(backend)) or "none"
        raise InputError.single(label, f"no such study in this storage (studies there: {known})") from None
    spec = _stored_spec(study, storage)
    if spec.data is None:
        raise InputError.single(
            label,
            "the study's spec has no data reference, so a worker cannot rebuild its replay",
            field="data",
        )
    inputs, base, settings = load_search_data(spec.data)
    _check_same_replay(study, storage, inputs, base, settings)
    study.sampler = optuna.samplers.TPESampler(seed=_worker_seed(spec.seed))
    objective = ReplayObjective(spec, inputs, base, settings)
    if n_trials is None:
        _run_trials(study, objective, budget=spec.n_trials, limit=None)
    else:
        _run_trials(study, objective, budget=None, limit=n_trials)
    return _result(study, objective, time.perf_counter() - started)


def load_search_data(ref: DataRef) -> tuple[ReplayInputs, Playbook, ReplaySettings]:
    """Rebuild a search's replay from ``ref``: load the trades and candles, label regimes, keep the
    trades entering within the window, prepare them; with the base playbook and the replay settings."""
    settings = load_settings(Path(ref.config) if ref.config else None).replay
    base = load_playbook(Path(ref.playbook))
    market = load_market(Path(ref.prices))
    trades = label_trades(load_trades(Path(ref.trades)).frame, market)
    start, end = ref.window()
    keep = pd.Series(True, index=trades.index)
    if start is not None:
        keep &= trades["entry_time"] >= start
    if end is not None:
        keep &= trades["entry_time"] < end
    if not keep.any():
        raise InputError.single(
            ref.trades,
            f"no trade enters within the window [{ref.window_start or 'start'}, {ref.window_end or 'end'})",
            field="entry_time",
        )
    inputs = prepare(trades[keep].reset_index(drop=True), market, settings)
    return inputs, base, settings


# --- running trials ---------------------------------------------------------------------------------


def _run_trials(study: optuna.Study, objective: ReplayObjective, *, budget: int | None, limit: int | None) -> None:
    """Run trials until ``budget`` trials of the study are claimed (complete or running) or this
    process has run ``limit``. A trial that finds the budget already taken by earlier trials is
    closed as a surplus FAIL; one whose objective raises is closed as FAIL and the error propagates."""
    ran = 0
    while limit is None or ran < limit:
        if budget is not None and _claimed(study.get_trials(deepcopy=False)) >= budget:
            break
        trial = study.ask()
        if budget is not None:
            # Another process may have created trials since the check above. Trial numbers are
            # assigned in creation order by every storage, so judging each trial only by the trials
            # numbered before it gives all processes the same answer and never overshoots the budget.
            earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
            if _claimed(earlier) >= budget:
                trial.set_user_attr(_ATTR_SURPLUS, True)
                study.tell(trial, state=TrialState.FAIL)
                break
        try:
            value = objective(trial)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        study.tell(trial, value)
        ran += 1


def _claimed(trials: Sequence[FrozenTrial]) -> int:
    return sum(t.state in (TrialState.COMPLETE, TrialState.RUNNING) for t in trials)


def _wait_for_running(study: optuna.Study, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        time.sleep(WAIT_POLL_SECONDS)


def _worker_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, os.getpid()]).generate_state(1)[0])


# --- results ------------------------------------------------------------------------------------------


def _result(study: optuna.Study, objective: ReplayObjective, seconds: float) -> SearchResult:
    names = list(objective.space)
    rows: list[dict[str, Any]] = []
    best: FrozenTrial | None = None
    n_complete = n_feasible = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(_ATTR_SURPLUS):
            continue
        complete = trial.state == TrialState.COMPLETE
        feasible = complete and all(v <= 0 for v in trial.constraints.values())
        n_complete += complete
        n_feasible += feasible
        if feasible and (best is None or _value(trial) > _value(best)):
            best = trial
        rows.append(
            {
                "number": trial.number,
                **{name: float(trial.params.get(name, math.nan)) for name in names},
                "value": _value(trial) if complete else math.nan,
                "feasible": feasible,
                "state": trial.state.name,
            }
        )
    columns = ["number", *names, "value", "feasible", "state"]
    return SearchResult(
        best_params={name: float(best.params[name]) for name in names} if best else {},
        best_value=_value(best) if best else math.nan,
        n_trials=n_complete,
        n_feasible=n_feasible,
        seconds=seconds,
        trials=pd.DataFrame(rows, columns=columns),
        notes=tuple(objective.notes),
    )


def _value(trial: FrozenTrial) -> float:
    return float(trial.value) if trial.value is not None else math.nan


# --- checks -------------------------------------------------------------------------------------------


def _clamp_space(spec: SearchSpec, base: Playbook) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """``spec.space`` within the playbook's bounds, and a note for every range that had to shrink."""
    space: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    problems: list[Problem] = []
    for name, (low, high) in spec.space.items():
        bound_low, bound_high = base.bounds[name]
        clamped = (max(low, bound_low), min(high, bound_high))
        if clamped[0] > clamped[1]:
            message = f"range [{low:g}, {high:g}] lies outside the bounds [{bound_low:g}, {bound_high:g}]"
            problems.append(Problem(SPEC_SOURCE, message, field=f"space.{name}"))
        elif clamped != (low, high):
            notes.append(
                f"space.{name} [{low:g}, {high:g}] clamped to [{clamped[0]:g}, {clamped[1]:g}] "
                f"by the bounds of {base.source}"
            )
        space[name] = clamped
    if problems:
        raise InputError(problems)
    return space, notes


def _stored_spec(study: optuna.Study, storage: str | None) -> SearchSpec:
    text = study.user_attrs.get(_ATTR_SPEC)
    if not isinstance(text, str):
        raise InputError.single(
            _study_label(study.study_name, storage),
            "this study has no search spec; it was not created by framework.search.open_study",
        )
    return SearchSpec.from_json(text)


def _check_same_replay(
    study: optuna.Study, storage: str | None, inputs: ReplayInputs, base: Playbook, settings: ReplaySettings
) -> None:
    attrs = study.user_attrs
    label = _study_label(study.study_name, storage)
    problems: list[Problem] = []
    if attrs.get(_ATTR_SETTINGS) != settings.model_dump():
        problems.append(
            Problem(
                label,
                f"replay settings differ: study {attrs.get(_ATTR_SETTINGS)}, here {settings.model_dump()}",
            )
        )
    if attrs.get(_ATTR_PLAYBOOK) != base.sha256():
        problems.append(Problem(label, f"the base playbook {base.source} differs from the study's (SHA-256)"))
    if attrs.get(_ATTR_DATA) != _fingerprint(inputs):
        problems.append(
            Problem(
                label,
                f"the trades or candles differ from the study's ({len(inputs.trade_id)} trades here, "
                f"{attrs.get(_ATTR_TRADES)} in the study)",
            )
        )
    if problems:
        raise InputError(problems)


def _fingerprint(inputs: ReplayInputs) -> str:
    """SHA-256 over what the replay reads of the trades and candles."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, inputs.trade_id)).encode("utf-8"))
    digest.update("\x1f".join(inputs.strategies).encode("utf-8"))
    for name in _FINGERPRINTED_ARRAYS:
        digest.update(np.ascontiguousarray(inputs.arrays[name]).tobytes())
    return digest.hexdigest()


def _study_label(study_name: str, storage: str | None) -> str:
    return f"study '{study_name}' in {storage or 'memory'}"


def _utc_time(text: str | None) -> pd.Timestamp | None:
    """``text`` (ISO-8601; UTC when it gives no offset) as a UTC timestamp; ValueError when it is none."""
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ValueError(f"'{text}' is not an ISO-8601 time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
