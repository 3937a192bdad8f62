"""Benchmark: how long the quick commands of the command line take to start and answer.

Prints ONE JSON object on stdout. Run from the repository root with the project's venv:
``.venv/bin/python backtests/bench_startup.py [--runs N]`` (a minute or two, most of it the setup).

Each command runs as a subprocess ``--runs`` times (at least 7) after one untimed warm-up run, and the
JSON gives the median, minimum and maximum wall time in seconds per command, against the target of
``TARGET_S``. The commands: ``playbook-tuner --help``, ``config``, ``status``, ``history`` and
``show SESSION`` on a store, and ``python -c "import framework.cli"``.

Setup: a small synthetic working set (``playbook-tuner sample``: 1 symbol, 20 days) tuned once with
``playbook-tuner tune`` in a temporary folder, which gives a store holding the registered playbook
version and one real session document (about a minute the first time, while numba compiles the kernels
into the user's cache; less after). Everything runs in that folder without ``$PLAYBOOK_TUNER_CONFIG``,
so the user's own configuration is not read.
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
from pathlib import Path

TARGET_S = 0.5
MIN_RUNS = 7
BIN = Path(sys.executable).parent
TUNER = str(BIN / "playbook-tuner")


def _run(command: list[str], cwd: Path, environment: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _time(command: list[str], runs: int, cwd: Path, environment: dict[str, str]) -> dict[str, float]:
    """Median, min and max wall time in seconds of ``runs`` runs of ``command``, after one untimed run."""
    _run(command, cwd, environment)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        _run(command, cwd, environment)
        times.append(time.perf_counter() - start)
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }


def _tuned_store(folder: Path, environment: dict[str, str]) -> tuple[Path, str]:
    """A store written by one real ``tune`` on a small synthetic working set; returns it and the session id."""
    data = folder / "data"
    _run([TUNER, "sample", "--out", str(data), "--symbols", "1", "--days", "20"], folder, environment)
    store = folder / "store.sqlite"
    session = folder / "session.json"
    tune = [TUNER, "tune", "--trades", str(data / "trades.csv"), "--signals", str(data / "signals.csv")]
    tune += ["--prices", str(data / "prices"), "--playbook", str(data / "playbook.yaml")]
    _run([*tune, "--store", str(store), "--json", str(session)], folder, environment)
    return store, json.loads(session.read_text(encoding="utf-8"))["session_id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"timed runs per command (at least {MIN_RUNS})")
    runs = parser.parse_args().runs
    if runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if not Path(TUNER).exists():
        parser.error(f"no {TUNER}: run this with the project's venv python (.venv/bin/python)")

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        folder = Path(name)
        environment = {n: v for n, v in os.environ.items() if n != "PLAYBOOK_TUNER_CONFIG"}
        setup_start = time.perf_counter()
        store, session = _tuned_store(folder, environment)
        setup_s = time.perf_counter() - setup_start
        commands = {
            "--help": [TUNER, "--help"],
            "config": [TUNER, "config"],
            "status": [TUNER, "status", "--store", str(store)],
            "history": [TUNER, "history", "--store", str(store)],
            "show": [TUNER, "show", session, "--store", str(store)],
            "import framework.cli": [sys.executable, "-c", "import framework.cli"],
        }
        results = {label: _time(command, runs, folder, environment) for label, command in commands.items()}

    print(
        json.dumps(
            {
                "runs": runs,
                "target_s": TARGET_S,
                "setup_s": round(setup_s, 1),
                "commands": results,
                "over_target": [label for label, result in results.items() if result["median_s"] > TARGET_S],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
