"""Calibrate the validation gate on planted cases on real candles; prints one JSON object.

Every session writes one planted case (``backtests/planted_cases.py``: a trade log whose truth is known,
on the real candles of ``../shared/data``) to a temporary folder and runs exactly what ``playbook-tuner
tune --trades --prices --playbook`` runs: ``framework.pipeline.run_tune`` with ``TuneFiles`` and the
default ``Settings()`` (``lookback_days`` included). Per case and effect size it counts the sessions that
accept the planted change (the power curve), that accept anything (on null cases: the null rate), and
that accept a change the truth refutes. A session that fails is recorded as ``{"error": message}`` and
counted apart, by message prefix.

Thresholds are chosen on the selection seeds (``--first-seed 0 --seeds 20``) and confirmed on disjoint
ones (``--first-seed 40 --seeds 20``). ``--lookback-days``, ``--hold-hours`` and ``--candles`` depart from
what ``tune`` and the issue's case run; the JSON names them under ``non_default``.

The real candles span 20 days (BTC pairs) and 38 days (BTC/USDT): with the cases' 48-hour holds every
session of today's gate fails in its own walk-forward split (six blocks of a ~9-day search window are
shorter than a hold, so fold 1 purges every training trade), whatever the lookback. ``--candles
btc_pairs_5m --hold-hours 8`` is the nearest setting in which today's gate runs, to see its power apart
from the crash.

Run from the repository root, e.g. ``.venv/bin/python backtests/gate_calibration.py --cases
confidence,confidence_null --seeds 10 --jobs 2``. Cases: confidence, confidence_null, leverage, strategy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.planted_cases import (
    CANDLE_SETS,
    SHARED_DATA,
    PlantedCase,
    confidence_cases,
    confidence_nulls,
    leverage_cases,
    strategy_cases,
    write_candle_set,
    write_case,
)
from framework.config import SERIAL_PARALLEL, ParallelSettings, Settings
from framework.pipeline import TuneFiles, run_tune
from framework.validation import Verdict

CASES: dict[str, Callable[[str], list[PlantedCase]]] = {
    "confidence": confidence_cases,
    "confidence_null": confidence_nulls,
    "leverage": leverage_cases,
    "strategy": strategy_cases,
}


@dataclasses.dataclass(frozen=True)
class Task:
    """One session: a case, a seed, where its candles are, the lookback override (None = default) and how
    the session runs its folds and tuners (serial inside the ``--jobs`` workers, so that two levels of
    workers never each take every core; the session is the same either way)."""

    case: PlantedCase
    seed: int
    prices: Path
    folder: Path
    lookback_days: int | None
    parallel: ParallelSettings = dataclasses.field(default_factory=ParallelSettings)


def run_session(task: Task) -> dict[str, Any]:
    """Write the case, run ``tune`` on it, and describe every verdict; an exception becomes ``error``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    files = write_case(task.case, task.folder, task.seed, task.prices)
    try:
        outcome = run_tune(
            TuneFiles(files.trades, files.prices, files.playbook),
            Settings(parallel=task.parallel),
            seed=task.seed,
            lookback_days=task.lookback_days,
        )
    except Exception as exc:  # a crashed session is an outcome of the benchmark, not the end of it
        return {"seed": task.seed, "error": f"{type(exc).__name__}: {exc}", "seconds": _since(started)}
    verdicts = [_verdict(task.case, v) for v in outcome.report.verdicts]
    return {
        "seed": task.seed,
        "trades": outcome.contents.trades_analyzed,
        "search_trades": outcome.report.search_trades,
        "holdout_trades": outcome.report.holdout_trades,
        "folds": outcome.report.folds,
        "out_of_sample_days": outcome.report.out_of_sample_days,
        "verdicts": verdicts,
        "seconds": _since(started),
    }


def _verdict(case: PlantedCase, verdict: Verdict) -> dict[str, Any]:
    current = verdict.proposal.proposal.current
    direction = "up" if verdict.value > current else "down"
    return {
        "slot": verdict.slot.describe(),
        "tuner": verdict.slot.tuner,
        "current": current,
        "value": round(verdict.value, 6),
        "direction": direction,
        "accepted": verdict.accepted,
        "truth": case.judge(verdict.slot.regime, verdict.slot.parameter, direction),
        "p": round(verdict.p_value, 4),
        "dsr": round(verdict.dsr, 4),
        "n_trials": verdict.n_trials,
        "oos_trades": verdict.oos_trades,
        "effect": verdict.evidence.get("effect"),
        "interval": verdict.evidence.get("interval"),
        "p_raw": verdict.evidence.get("p_value_raw"),
        "reason": verdict.reason,
    }


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def error_prefix(message: str) -> str:
    """A message with its numbers and durations folded, up to its first ';' (groups alike errors)."""
    folded = re.sub(r"\d+ days \d+:\d+:\d+|\d+(\.\d+)?", "N", message)
    return folded.split(";")[0]


def summarize(case: PlantedCase, sessions: list[dict[str, Any]], details: bool) -> dict[str, Any]:
    """Counts over one case's sessions (see the module docstring); ``details`` adds every verdict."""
    finished = [s for s in sessions if "error" not in s]
    errors = Counter(error_prefix(s["error"]) for s in sessions if "error" in s)
    accepted = [[v for v in s["verdicts"] if v["accepted"]] for s in finished]
    by_slot = Counter(f"{v['slot']} {v['direction']} ({v['truth']})" for group in accepted for v in group)
    planted_slot = f"{case.regime}.{case.parameter}"
    planted = [
        {k: v[k] for k in ("value", "accepted", "p", "dsr", "n_trials", "oos_trades", "reason")} | {"seed": s["seed"]}
        for s in finished
        for v in s["verdicts"]
        if v["slot"] == planted_slot
    ]
    summary: dict[str, Any] = {
        "kind": case.kind,
        "effect": case.effect,
        "planted": {"slot": planted_slot, "direction": case.direction, "mean_accuracy": round(case.mean_accuracy, 4)},
        "candles": case.candles,
        "hold_hours": case.hold / pd.Timedelta(hours=1),
        "sessions": len(sessions),
        "sessions_completed": len(finished),
        "sessions_accepting_planted_change": sum(any(v["truth"] == "planted" for v in g) for g in accepted),
        "sessions_with_any_accepted_change": sum(bool(g) for g in accepted),
        "sessions_with_wrong_accepted_change": sum(any(v["truth"] == "wrong" for v in g) for g in accepted),
        "errors": {"count": sum(errors.values()), "by_prefix": dict(errors.most_common())},
        "accepted_by_slot": dict(by_slot.most_common()),
        "planted_slot_verdicts": planted,
        "seconds_per_session": round(sum(s["seconds"] for s in sessions) / max(len(sessions), 1), 2),
    }
    if details:
        summary["details"] = sessions
    return summary


def _share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--effects", default="", help="comma list of effect labels to run (e.g. 0.85/0.40); all")
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds (sessions per case and effect)")
    parser.add_argument("--first-seed", type=int, default=0, help="selection seeds 0-19, confirmation 40-59")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (the machine has 2 shared cores)")
    parser.add_argument("--details", action="store_true", help="also list every verdict of every session")
    parser.add_argument("--lookback-days", type=int, default=None, help="NON-DEFAULT: override lookback_days")
    parser.add_argument("--hold-hours", type=float, default=None, help="NON-DEFAULT: hold other than the cases' 48h")
    parser.add_argument("--candles", choices=sorted(CANDLE_SETS), default=None, help="NON-DEFAULT candle set")
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder (../shared/data)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases.split(",")) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    return args


def selected_cases(args: argparse.Namespace) -> list[PlantedCase]:
    """The cases and effect sizes asked for, with the overrides applied."""
    cases = [case for name in args.cases.split(",") for case in CASES[name](args.candles or "btc_pairs_1h")]
    if args.effects:
        cases = [case for case in cases if case.effect in args.effects.split(",")]
    if args.hold_hours is not None:
        cases = [dataclasses.replace(case, hold=pd.Timedelta(hours=args.hold_hours)) for case in cases]
    return cases


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    cases = selected_cases(args)
    if not cases:
        raise SystemExit("no case matches --cases and --effects")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    overrides = {"lookback_days": args.lookback_days, "hold_hours": args.hold_hours, "candles": args.candles}
    non_default = {name: value for name, value in overrides.items() if value is not None}
    result: dict[str, Any] = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "settings": "Settings() defaults" + (f", lookback_days {args.lookback_days}" if args.lookback_days else ""),
        "non_default": non_default,
    }
    with tempfile.TemporaryDirectory(prefix="gate-calibration-") as folder:
        root = Path(folder)
        try:
            prices = {name: write_candle_set(name, root / name, args.data) for name in {c.candles for c in cases}}
        except FileNotFoundError as exc:
            raise SystemExit(str(exc)) from None
        parallel = SERIAL_PARALLEL if args.jobs > 1 else ParallelSettings()
        tasks = [
            Task(case, seed, prices[case.candles], root / f"{index}-{seed}", args.lookback_days, parallel)
            for index, case in enumerate(cases)
            for seed in seeds
        ]
        if args.jobs == 1:
            sessions = [run_session(task) for task in tasks]
        else:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                sessions = list(pool.map(run_session, tasks))
    per_case = [sessions[k * len(seeds) : (k + 1) * len(seeds)] for k in range(len(cases))]
    summaries = [summarize(case, group, args.details) for case, group in zip(cases, per_case, strict=True)]
    result["cases"] = summaries
    result["power_curve"] = {
        s["kind"]: {} for s in summaries if s["planted"]["direction"] is not None
    }  # kind -> effect -> share of completed sessions accepting the planted change
    result["null_rate"] = {}
    for s in summaries:
        completed = s["sessions_completed"]
        if s["planted"]["direction"] is not None:
            result["power_curve"][s["kind"]][s["effect"]] = _share(s["sessions_accepting_planted_change"], completed)
        else:
            null = f"{s['kind']} {s['effect']}"
            result["null_rate"][null] = _share(s["sessions_with_any_accepted_change"], completed)
    result["sessions"] = len(sessions)
    result["errors"] = sum(s["errors"]["count"] for s in summaries)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
