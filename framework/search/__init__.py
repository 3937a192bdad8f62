"""Optuna search over one regime's playbook parameters, scored by replaying the training trades.

A :class:`SearchSpec` names the study, the regime, the parameter space and the objective (a replay
metric, maximised) with optional constraints (a drawdown floor, no liquidations). Every trial
suggests each parameter of the space, replays the prepared trades under the base playbook with those
values set in the regime's block, records the replay's metrics on the trial and returns the
objective. Trials are asked for ``spec.batch`` at a time and each batch is replayed as one sweep of
that many candidates, which costs a fraction of replaying them one by one.

Several processes or machines can share one search: they open the same study (same name, same
storage; see :func:`storage_from_url`) and draw trials from one budget of ``spec.n_trials`` complete
trials. The study carries the spec, so a worker (:func:`run_worker`, ``playbook-tuner worker``)
needs only the study name and the storage URL; it rebuilds the replay from the spec's
:class:`DataRef` (a tune's studies carry one of their window, signal log included) and refuses to run
when its data, playbook or replay settings differ from the ones the study was created with (SHA-256
fingerprints, computed only for shared studies: an in-memory study records and checks nothing).
Sharing pays only when a trial's replay costs more than the storage's round trips for it
(``backtests/bench_search_storage.py`` measures both).

The package is three modules: :mod:`~framework.search.spec` (what to search and where its data is),
:mod:`~framework.search.storage` (storages by URL; the study, its records and the checks that a
process replays what it was created for) and :mod:`~framework.search.runner` (the objective, the
trials under the shared budget, the result).

The budget is exact: a trial counts against it from the moment it is created, and a trial created
when the budget is already taken by earlier trials (by trial number) is closed at once as FAIL with
the user attribute ``surplus`` and is never evaluated. A worker killed mid-trial leaves a RUNNING
trial that keeps its budget slot (Optuna's heartbeat is not used).
"""

from framework.search.runner import (
    NON_FINITE_OBJECTIVE,
    WAIT_POLL_SECONDS,
    ReplayObjective,
    SearchResult,
    load_search_data,
    run_search,
    run_worker,
)
from framework.search.spec import SPEC_SOURCE, DataRef, SearchSpec, search_settings
from framework.search.storage import (
    JOURNAL_PREFIX,
    JOURNAL_SUFFIXES,
    RDB_SCHEMES,
    STORAGE_FORMS,
    chosen_storage,
    open_study,
    storage_from_url,
)

__all__ = [
    "JOURNAL_PREFIX",
    "JOURNAL_SUFFIXES",
    "NON_FINITE_OBJECTIVE",
    "RDB_SCHEMES",
    "SPEC_SOURCE",
    "STORAGE_FORMS",
    "WAIT_POLL_SECONDS",
    "DataRef",
    "ReplayObjective",
    "SearchResult",
    "SearchSpec",
    "chosen_storage",
    "load_search_data",
    "open_study",
    "run_search",
    "run_worker",
    "search_settings",
    "storage_from_url",
]
