"""Benchmark: what a trial of a search costs, replayed alone or in a batch, and what sharing the search
through a storage adds to it: in memory, on SQLite, on PostgreSQL with one and two worker processes.

Prints ONE JSON object on stdout. Run from the repository root with the project's venv, with a
PostgreSQL server to test on (``.ci/postgres.sh`` starts a throwaway one)::

    bash -c 'source .ci/postgres.sh && start_test_postgres && .venv/bin/python backtests/bench_search_storage.py'

or ``--postgres URL`` (default ``$PLAYBOOK_TUNER_TEST_POSTGRES``); without one the PostgreSQL figures are
null. Every figure is the median of ``--runs`` runs (at least 5) after an untimed warm-up.

- ``replay_ms_per_trial``: one trial's replay (``tables_for_changes`` + ``replay_tables``, the search's
  objective without Optuna) alone, and as one of a sweep of ``batch`` candidates, and their ratio.
- ``searches``: a search of ``--trials`` trials of the risk/reward space of one regime (the risk/reward
  tuner's search), batches of 16 and of 1, in this process: in memory, on SQLite (a file in a temporary
  folder) and on PostgreSQL; ``ms_per_trial`` is the search's wall time per trial.
- ``workers``: the same search (batches of 16) on PostgreSQL run by one and by two ``playbook-tuner
  worker`` processes started at once: ``trials_s`` spans the first trial's start to the last one's end
  (Optuna's timestamps; what sharing speeds up), ``wall_s`` adds each process's start (imports, reading
  the logs again, ``load_search_data``).
- ``round_trip_ms_per_trial``: per storage, the search's time per trial less the in-memory one (batches
  of 16): what the storage's round trips add to every trial.

Data: the embedded sample's shape (``write_sample``, 3 symbols of 5-minute candles; ``--days``), its
trades replayed with the signals it left out, in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from framework.playbook import ParameterChange
from framework.replay import replay_tables, tables_for_changes
from framework.sample import write_sample
from framework.search import DataRef, SearchSpec, load_search_data, open_study, run_search, storage_from_url

MIN_RUNS = 5
BATCH = 16
SPACE = {"stop_loss": (0.01, 0.05), "risk_reward_ratio": (0.5, 4.0)}
TUNER = str(Path(sys.executable).parent / "playbook-tuner")
REPO = Path(__file__).resolve().parents[1]


def _median(measure: Callable[[], float], runs: int) -> float:
    measure()  # warm-up: compiled kernels loaded, caches filled
    return statistics.median(measure() for _ in range(runs))


def _replay_ms_per_trial(data: tuple[Any, ...], runs: int) -> dict[str, float]:
    inputs, base, settings = data
    rng = np.random.default_rng(0)
    points = [
        [ParameterChange("ranging", name, float(rng.uniform(low, high))) for name, (low, high) in SPACE.items()]
        for _ in range(BATCH)
    ]

    def alone() -> float:
        start = time.perf_counter()
        for changes in points:
            replay_tables(inputs, tables_for_changes(inputs, base, [changes]), settings)
        return (time.perf_counter() - start) / BATCH * 1e3

    def batched() -> float:
        start = time.perf_counter()
        replay_tables(inputs, tables_for_changes(inputs, base, points), settings)
        return (time.perf_counter() - start) / BATCH * 1e3

    one, many = _median(alone, runs), _median(batched, runs)
    return {"alone": round(one, 3), f"batch_of_{BATCH}": round(many, 3), "alone_over_batched": round(one / many, 2)}


def _spec(trials: int, batch: int, ref: DataRef | None = None) -> SearchSpec:
    name = f"bench-{uuid.uuid4().hex[:10]}"  # a study of its own every run: a server outlives the bench
    return SearchSpec(study_name=name, regime="ranging", space=SPACE, n_trials=trials, batch=batch, data=ref)


def _search_ms_per_trial(
    data: tuple[Any, ...], storage: Callable[[], str | None], trials: int, batch: int, runs: int
) -> float:
    def once() -> float:
        start = time.perf_counter()
        result = run_search(_spec(trials, batch), *data, storage=storage())
        assert result.n_trials == trials, result.n_trials
        return (time.perf_counter() - start) / trials * 1e3

    return round(_median(once, runs), 3)


def _workers(data: tuple[Any, ...], ref: DataRef, url: str, count: int, trials: int, runs: int) -> dict[str, float]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    spans, walls = [], []
    for _ in range(runs + 1):  # the first run is the warm-up
        spec = _spec(trials, BATCH, ref)
        open_study(spec, url, *data)
        start = time.perf_counter()
        command = [TUNER, "worker", "--study", spec.study_name, "--storage", url]
        workers = [subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL) for _ in range(count)]
        if any(worker.wait() != 0 for worker in workers):
            raise SystemExit(f"a worker failed on {spec.study_name}")
        walls.append(time.perf_counter() - start)
        study = optuna.load_study(study_name=spec.study_name, storage=storage_from_url(url))
        done = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(done) == trials, len(done)
        first = min(t.datetime_start for t in done if t.datetime_start)
        last = max(t.datetime_complete for t in done if t.datetime_complete)
        spans.append((last - first).total_seconds())
    return {
        "trials_s": round(statistics.median(spans[1:]), 3),
        "wall_s": round(statistics.median(walls[1:]), 3),
        "ms_per_trial": round(statistics.median(spans[1:]) / trials * 1e3, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"timed runs per figure (at least {MIN_RUNS})")
    parser.add_argument("--trials", type=int, default=64, help="trials per search")
    parser.add_argument("--days", type=int, default=60, help="days of the synthetic sample")
    parser.add_argument("--postgres", default=os.environ.get("PLAYBOOK_TUNER_TEST_POSTGRES"), help="PostgreSQL URL")
    options = parser.parse_args()
    if options.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-search-") as name:
        folder = Path(name)
        sample = write_sample(folder / "sample", days=options.days)
        ref = DataRef(
            trades=str(sample.trades), prices=str(sample.prices), playbook=str(sample.playbook),
            signals=str(sample.signals),
        )  # fmt: skip
        data = load_search_data(ref)
        runs, trials = options.runs, options.trials
        storages: dict[str, Callable[[], str | None]] = {
            "memory": lambda: None,
            "sqlite": lambda: f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}",
        }
        if options.postgres:
            storages["postgresql"] = lambda: options.postgres
        searches = {
            kind: {
                f"batch_{batch}_ms_per_trial": _search_ms_per_trial(data, storage, trials, batch, runs)
                for batch in (BATCH, 1)
            }
            for kind, storage in storages.items()
        }
        memory = searches["memory"][f"batch_{BATCH}_ms_per_trial"]
        workers = None
        if options.postgres:
            workers = {
                f"{count}_workers": _workers(data, ref, options.postgres, count, trials, runs) for count in (1, 2)
            }
        print(
            json.dumps(
                {
                    "runs": runs,
                    "trials": trials,
                    "trades_replayed": len(data[0].trade_id),
                    "bars": len(data[0].bars.times),
                    "load_average": os.getloadavg(),
                    "cpus": os.cpu_count(),
                    "replay_ms_per_trial": _replay_ms_per_trial(data, max(runs, 7)),
                    "searches": searches,
                    "workers": workers,
                    "round_trip_ms_per_trial": {
                        kind: round(figures[f"batch_{BATCH}_ms_per_trial"] - memory, 3)
                        for kind, figures in searches.items()
                        if kind != "memory"
                    },
                    "postgres": bool(options.postgres),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
