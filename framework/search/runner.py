"""Running a search: the replay objective, trials drawn under the study's exact budget by any number
of processes (:func:`run_search`, :func:`run_worker`), and the result."""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from framework.config import ReplaySettings, Settings, load_settings
from framework.errors import InputError, Problem
from framework.freqtrade import read_signal_log, read_trade_log
from framework.market import load_market
from framework.playbook import ParameterChange, Playbook, load_playbook
from framework.regimes import RegimeLabels, label_trades
from framework.replay import ReplayInputs, prepare, replay_tables, tables_for_changes
from framework.replay.kernels import METRIC_NAMES
from framework.search.spec import SPEC_SOURCE, DataRef, SearchSpec
from framework.search.storage import check_same_replay, open_study, storage_from_url, stored_spec, study_label
from framework.times import utc_time

NON_FINITE_OBJECTIVE = -1e12
"""Score of a trial whose objective metric is NaN or infinite (e.g. ``sharpe`` when no trade is taken,
``log_growth`` of a wiped-out account, ``profit_factor`` with no losing trade): below any real score,
so the sampler moves away from it and it is never the best unless every trial scores it."""

WAIT_POLL_SECONDS = 0.2

# Trial user attributes.
_ATTR_METRICS = "metrics"
_ATTR_SURPLUS = "surplus"
_ATTR_WORKER_HOST = "worker_host"
_ATTR_WORKER_PID = "worker_pid"

_CLAIMING = (TrialState.COMPLETE, TrialState.RUNNING)  # the states that hold a slot of the budget

_logger = logging.getLogger(__name__)


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
        return self.score([trial])[0]

    def score(self, trials: Sequence[optuna.trial.Trial]) -> list[float]:
        """Each trial's objective, its point suggested and all of them replayed as one K-candidate sweep
        (a fraction of the cost of replaying each alone); the metrics and constraints set per trial."""
        points = [
            {name: trial.suggest_float(name, low, high) for name, (low, high) in self.space.items()} for trial in trials
        ]
        change_sets = [[ParameterChange(self.spec.regime, name, value) for name, value in p.items()] for p in points]
        tables = tables_for_changes(self.inputs, self.base, change_sets)
        table = replay_tables(self.inputs, tables, self.settings).metrics[list(METRIC_NAMES)].to_numpy(np.float64)
        host, pid = socket.gethostname(), os.getpid()
        scores: list[float] = []
        for trial, row in zip(trials, table, strict=True):
            metrics = dict(zip(METRIC_NAMES, map(float, row), strict=True))
            trial.set_user_attr(_ATTR_METRICS, metrics)
            trial.set_user_attr(_ATTR_WORKER_HOST, host)
            trial.set_user_attr(_ATTR_WORKER_PID, pid)
            for key, value in self.constraints(metrics).items():
                trial.set_constraint(key, value)
            score = metrics[self.spec.objective]
            scores.append(score if math.isfinite(score) else NON_FINITE_OBJECTIVE)
        return scores

    def constraints(self, metrics: dict[str, float]) -> dict[str, float]:
        """Constraint values of a replay's metrics; a trial is feasible when every value is <= 0."""
        out: dict[str, float] = {}
        if self.spec.max_drawdown_floor is not None:
            drawdown = metrics["max_drawdown"]
            out["max_drawdown_floor"] = self.spec.max_drawdown_floor - drawdown if math.isfinite(drawdown) else math.inf
        if not self.spec.allow_liquidations:
            out["liquidations"] = metrics["liquidations"]
        return out


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
    label = study_label(study_name, storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        known = ", ".join(optuna.get_all_study_names(backend)) or "none"
        raise InputError.single(label, f"no such study in this storage (studies there: {known})") from None
    spec = stored_spec(study, storage)
    if spec.data is None:
        raise InputError.single(
            label,
            "the study's spec has no data reference, so a worker cannot rebuild its replay",
            field="data",
        )
    inputs, base, settings = load_search_data(spec.data)
    check_same_replay(study, storage, inputs, base, settings)
    study.sampler = optuna.samplers.TPESampler(seed=_worker_seed(spec.seed))
    objective = ReplayObjective(spec, inputs, base, settings)
    if n_trials is None:
        _run_trials(study, objective, budget=spec.n_trials, limit=None)
    else:
        _run_trials(study, objective, budget=None, limit=n_trials)
    return _result(study, objective, time.perf_counter() - started)


def load_search_data(ref: DataRef) -> tuple[ReplayInputs, Playbook, ReplaySettings]:
    """Rebuild a search's replay from ``ref`` (see :class:`DataRef`): read the logs and candles, label
    regimes, keep the window's trades and signals, prepare them with the untaken signals; with the base
    playbook and the replay settings."""
    from framework.tuning import with_untaken_signals  # a layer's peer that imports this package

    loaded = load_settings(None) if ref.settings is None else Settings.model_validate(ref.settings)
    base = load_playbook(Path(ref.playbook))
    market = load_market(Path(ref.prices))
    trades = read_trade_log(Path(ref.trades), loaded.freqtrade, lenient=ref.lenient).log.frame
    signals = None
    if ref.signals is not None:
        read = read_signal_log(Path(ref.signals), loaded.freqtrade, trades=trades, lenient=ref.lenient)
        signals = read.log.frame
    labels = RegimeLabels(market)
    trades = label_trades(trades, market, labels=labels)
    start, end = ref.window()
    keep = pd.Series(True, index=trades.index)
    if start is not None:
        keep &= trades["entry_time"] >= start
    if end is not None:
        keep &= trades["entry_time"] < end
    if ref.exits_before is not None:
        keep &= trades["exit_time"] < utc_time(ref.exits_before)
    if not keep.any():
        raise InputError.single(
            ref.trades,
            f"no trade enters within the window [{ref.window_start or 'start'}, {ref.window_end or 'end'})"
            + (f" and exits before {ref.exits_before}" if ref.exits_before else ""),
            field="entry_time",
        )
    window = trades[keep].reset_index(drop=True)
    if signals is not None and (start, end, ref.exits_before) != (None, None, None):
        signals = signals[signals["entry_time"].between(window["entry_time"].min(), window["entry_time"].max())]
    replayed = with_untaken_signals(window, signals, market, base, labels)
    return prepare(replayed, market, loaded.replay), base, loaded.replay


# --- running trials ---------------------------------------------------------------------------------


def _run_trials(study: optuna.Study, objective: ReplayObjective, *, budget: int | None, limit: int | None) -> None:
    """Run trials, ``spec.batch`` asked at once and replayed as one sweep, until ``budget`` trials of the
    study are claimed (complete or running) or this process has run ``limit``. A trial that finds the
    budget already taken by earlier trials is closed as a surplus FAIL; when the objective raises, the
    batch is closed as FAIL and the error propagates."""
    ran = 0
    while limit is None or ran < limit:
        size = objective.spec.batch if limit is None else min(objective.spec.batch, limit - ran)
        if budget is not None:
            size = min(size, budget - _claimed(study.get_trials(deepcopy=False)))
            if size <= 0:
                break
        trials = [study.ask() for _ in range(size)]
        if budget is not None:
            trials = _within_budget(study, trials, budget)
            if not trials:
                break
        try:
            values = objective.score(trials)
        except BaseException:
            for trial in trials:
                study.tell(trial, state=TrialState.FAIL)
            raise
        for trial, value in zip(trials, values, strict=True):
            study.tell(trial, value)
        ran += len(trials)
        if len(trials) < size:  # some were surplus: the budget is taken
            break


def _within_budget(study: optuna.Study, trials: list[optuna.trial.Trial], budget: int) -> list[optuna.trial.Trial]:
    """The trials just asked that fit in the budget; the others closed as surplus FAILs.

    Other processes may have created trials since this one counted. Trial numbers are assigned in
    creation order by every storage, so judging each trial only by the trials numbered before it (this
    batch's earlier ones included: they are running) gives all processes the same answer and never
    overshoots the budget."""
    claimed = np.sort([t.number for t in study.get_trials(deepcopy=False) if t.state in _CLAIMING])
    kept: list[optuna.trial.Trial] = []
    for trial in trials:
        if np.searchsorted(claimed, trial.number) < budget:
            kept.append(trial)
        else:
            trial.set_user_attr(_ATTR_SURPLUS, True)
            study.tell(trial, state=TrialState.FAIL)
    return kept


def _claimed(trials: Sequence[FrozenTrial]) -> int:
    return sum(t.state in _CLAIMING for t in trials)


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


# --- checks ---------------------------------------------------------------------------------------


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
