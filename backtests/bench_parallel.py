"""Benchmark: the embedded sample's tune serially, on process workers and on threads.

Prints ONE JSON object on stdout. Run from the repository root with the project's venv:
``.venv/bin/python backtests/bench_parallel.py [--runs N] [--workers W]`` (several minutes).

The tune is ``framework.pipeline.run_tune`` on the embedded sample (``framework.sample.cached_sample``,
``EMBEDDED_SAMPLE_DAYS`` days, 3 symbols) with the default settings but ``[parallel]`` and
``lookback_days`` (the whole sample), each run into a fresh store. One untimed warm-up run per backend
(numba loads its cached kernels, the process workers start), then ``--runs`` (at least 3) timed runs,
the backends taking turns so that a change of the machine's load reaches all of them alike. The JSON
gives each backend's median, minimum and maximum wall time in seconds, the speedups over serial (median
over median), the warm-up runs (``first_run_seconds``: serial's includes loading this process's kernels,
processes' the start of its workers, which import the framework and load the kernels: what every
``playbook-tuner tune``, a new process, pays), whether every run gave the serial run's session (its
document, less ids, times and the vectorbt check's seconds), the cores and the load average before and
after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.config import Settings
from framework.pipeline import TuneFiles, run_tune
from framework.sample import EMBEDDED_SAMPLE_DAYS, cached_sample

BACKENDS = ("serial", "processes", "threads")
MIN_RUNS = 3
UNSTABLE_KEYS = {"session_id", "created_at", "expires_at", "seconds"}


def stable(value: Any) -> Any:
    """A session document less what differs between any two runs."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in UNSTABLE_KEYS}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def timed_tune(backend: str, workers: int, folder: Path) -> tuple[float, str]:
    """Seconds of one tune of the sample on ``backend``, and its stable document as JSON."""
    sample = cached_sample()
    settings = Settings.model_validate(
        {"lookback_days": EMBEDDED_SAMPLE_DAYS + 1, "parallel": {"backend": backend, "workers": workers}}
    )
    files = TuneFiles(sample.trades, sample.prices, sample.playbook, sample.signals, folder / "store.sqlite")
    started = time.perf_counter()
    outcome = run_tune(files, settings)
    seconds = time.perf_counter() - started
    return seconds, json.dumps(stable(outcome.document), sort_keys=True)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"timed runs per backend (at least {MIN_RUNS})")
    parser.add_argument("--workers", type=int, default=0, help="workers of processes and threads; 0 = one per core")
    args = parser.parse_args()
    if args.runs < MIN_RUNS or args.workers < 0:
        parser.error(f"--runs must be at least {MIN_RUNS} and --workers at least 0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    documents: dict[str, set[str]] = {backend: set() for backend in BACKENDS}  # each run's, by backend
    first: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as root:
        for run in range(args.runs + 1):
            for backend in BACKENDS:
                took, document = timed_tune(backend, args.workers, Path(root) / f"{backend}-{run}")
                documents[backend].add(document)
                if run:
                    seconds[backend].append(round(took, 3))
                else:
                    first[backend] = round(took, 3)
    medians = {backend: statistics.median(values) for backend, values in seconds.items()}
    return {
        "benchmark": "tune of the embedded sample: serial vs process workers vs threads",
        "sample": {"days": EMBEDDED_SAMPLE_DAYS, "symbols": 3},
        "cores": os.cpu_count(),
        "workers": args.workers or os.cpu_count(),
        "runs": args.runs,
        "seconds": {
            backend: {"median": medians[backend], "min": min(values), "max": max(values), "runs": values}
            for backend, values in seconds.items()
        },
        "first_run_seconds": first,
        "speedup_processes": round(medians["serial"] / medians["processes"], 3),
        "speedup_threads": round(medians["serial"] / medians["threads"], 3),
        "same_session": len(set().union(*documents.values())) == 1,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    print(json.dumps(main()))
