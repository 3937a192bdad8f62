"""Benchmark: ``playbook-tuner tune`` at scale and on the embedded sample; memory per component.

Prints ONE JSON object on stdout. Run from the repository root with the project's venv:
``.venv/bin/python backtests/bench_tune.py [--symbols 10 --days 365 --trades 50000] [--sample-runs 3]
[--no-components]`` (issue 15's case: 10 symbols x a year of 1-minute candles, 5.26 M bars, 50,000
trades; pass fewer symbols or trades for a quick look).

- ``sample``: ``tune`` on the embedded sample, warm (one untimed run first: the sample written, the
  kernels compiled), the median of ``--sample-runs`` runs; target ``SAMPLE_TARGET_S``.
- ``scale``: one ``tune`` of the scale case (:mod:`backtests.scale_case`, written once into
  ``--case-dir`` and reused), every trade in the lookback; targets ``SCALE_TARGET_S`` and
  ``SCALE_TARGET_MB``.
  The default settings first (process workers, as the case has over ``[parallel] min_trades`` trades),
  then ``serial``: ``--jobs 1``.
Each ``tune`` is a subprocess of its own; its wall time, CPU time (user + system, its workers' included)
and ``peak_rss_mb`` (of its largest process) are read from ``os.wait4``; ``tree_peak_pss_mb`` is the
most its whole process tree held at once (the tune and its workers, PSS sampled every
``TREE_SAMPLE_S`` s).
- ``components``: in this process, on the scale case, each part of a tune's data built once as the
  tune builds it, with tracemalloc (numpy's arrays included): ``peak_mb`` while it is built and
  ``kept_mb`` after (what it holds while the tune runs), and its seconds (tracemalloc slows Python
  code, so these seconds are not the tune's).
- ``load``: ``os.getloadavg()`` before and after: the machine is shared, timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_case import write_scale_case

SAMPLE_TARGET_S = 8.0
SCALE_TARGET_S = 120.0
SCALE_TARGET_MB = 2048.0
TREE_SAMPLE_S = 0.5
_TUNE = "import sys; from framework.cli import main; sys.argv = ['playbook-tuner', *sys.argv[1:]]; main()"


def _tune(arguments: list[str], folder: Path) -> dict[str, float]:
    """One ``tune`` in a subprocess: wall and CPU seconds (its workers' included), the peak RSS of its
    largest process and the peak PSS of its whole process tree, in MB."""
    store = folder / f"store-{time.monotonic_ns()}.sqlite"
    command = [sys.executable, "-c", _TUNE, "tune", "--store", str(store), "--json", str(folder / "session.json")]
    started = time.perf_counter()
    with open(folder / "tune.log", "w") as log:
        process = subprocess.Popen([*command, *arguments], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        tree_peak = _TreePeak(process.pid)
        tree_peak.start()
        _, status, usage = os.wait4(process.pid, 0)
        tree_peak.stop.set()
        tree_peak.join()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"tune failed ({process.returncode}); see {folder / 'tune.log'}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "tree_peak_pss_mb": round(tree_peak.peak_kb / 1024, 1),
    }


class _TreePeak(threading.Thread):
    """The largest sum of PSS (proportional set size: shared pages split between the processes that
    map them) over a process and its descendants, sampled every ``TREE_SAMPLE_S`` seconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(TREE_SAMPLE_S):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:  # gone meanwhile
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("Pss:")), 0)


def _sample(runs: int, folder: Path) -> dict[str, Any]:
    _tune([], folder)  # writes the sample and compiles the kernels once
    timed = [_tune([], folder) for _ in range(runs)]
    walls = [t["wall_s"] for t in timed]
    return {
        "runs": runs,
        "median_wall_s": statistics.median(walls),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "median_cpu_s": statistics.median(t["cpu_s"] for t in timed),
        "peak_rss_mb": max(t["peak_rss_mb"] for t in timed),
        "tree_peak_pss_mb": max(t["tree_peak_pss_mb"] for t in timed),
        "target_s": SAMPLE_TARGET_S,
    }


def _scale(case: Any, folder: Path) -> dict[str, Any]:
    config = folder / "all-trades.toml"
    config.write_text(f"lookback_days = {case.bars // 1440 + 1}\n", encoding="utf-8")
    arguments = ["--trades", str(case.trades), "--prices", str(case.prices), "--playbook", str(case.playbook)]
    measured = _tune([*arguments, "--config", str(config)], folder)
    serial = _tune([*arguments, "--config", str(config), "--jobs", "1"], folder)
    return {
        **measured,
        "serial": serial,
        "symbols": case.symbols,
        "bars": case.bars * case.symbols,
        "trades": case.trade_count,
        "target_s": SCALE_TARGET_S,
        "target_mb": SCALE_TARGET_MB,
    }


def _measured(table: dict[str, Any], name: str, build: Callable[[], Any]) -> Any:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    value = build()
    seconds = time.perf_counter() - started
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    table[name] = {
        "peak_mb": round((peak - before) / 2**20, 1),
        "kept_mb": round((kept - before) / 2**20, 1),
        "seconds_traced": round(seconds, 2),
    }
    return value


def _components(case: Any) -> dict[str, Any]:
    """Each part of a tune's data, built once as ``run_gate`` builds it (see the module doc)."""
    from framework.config import Settings
    from framework.features import MarketBars, build_features
    from framework.market import load_market
    from framework.models import feasible_folds, make_regressor
    from framework.playbook import ParameterChange, load_playbook
    from framework.regimes import RegimeLabels, label_trades
    from framework.replay import prepare, replay_tables, tables_for_changes, vectorbt_check
    from framework.trades import load_trades

    settings = Settings()
    table: dict[str, Any] = {}
    market = _measured(table, "candles", lambda: load_market(case.prices))
    playbook = load_playbook(case.playbook)
    labels = RegimeLabels(market)
    _measured(table, "regime_labels", lambda: [labels.for_symbol(s) for s in market.symbols()])
    trades = label_trades(load_trades(case.trades).frame, market, labels=labels)
    bars = MarketBars(labels)
    _measured(table, "market_bars", lambda: [bars.for_symbol(s) for s in market.symbols()])
    inputs = _measured(table, "replay_inputs", lambda: prepare(trades, market, settings.replay))
    features = _measured(table, "features", lambda: build_features(trades, market, bars=bars))

    def fitted() -> Any:
        usable = features.frame["outcome_efficiency"].notna().to_numpy()
        layout = feasible_folds(trades["entry_time"][usable], trades["exit_time"][usable], 5, min_train=2)
        assert layout.splitter is not None
        y = features.frame.loc[usable, "outcome_efficiency"].to_numpy()
        return make_regressor().fit(features.entry[usable], y)

    _measured(table, "model", fitted)

    def checked() -> Any:
        changes = [[], [ParameterChange("default", "stop_loss", 0.015)]]
        result = replay_tables(inputs, tables_for_changes(inputs, playbook, changes), settings.replay, per_trade=True)
        replays = [vectorbt_check.replayed(result, k, group="bench", label=f"c{k}") for k in range(2)]
        return vectorbt_check.check(replays)

    checked()  # vectorbt imported and its simulators loaded outside the measure
    _measured(table, "vectorbt_check", checked)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--sample-runs", type=int, default=3)
    parser.add_argument("--case-dir", type=Path, default=Path(tempfile.gettempdir()) / "playbook-tuner-scale")
    parser.add_argument("--no-sample", action="store_true", help="skip the embedded sample's runs")
    parser.add_argument("--no-components", action="store_true", help="skip the memory table")
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    case_dir = args.case_dir / f"{args.symbols}x{args.days}d-{args.trades}-seed{args.seed}"
    started = time.perf_counter()
    case = write_scale_case(case_dir, symbols=args.symbols, days=args.days, trades=args.trades, seed=args.seed)
    written = time.perf_counter() - started
    out: dict[str, Any] = {"load_before": load, "cpus": os.cpu_count(), "case_written_s": round(written, 1)}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if not args.no_sample:
            out["sample"] = _sample(args.sample_runs, folder)
        out["scale"] = _scale(case, folder)
    if not args.no_components:
        out["components"] = _components(case)
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
