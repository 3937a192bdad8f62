"""The post-apply audit's error rates on scripted live months of the synthetic sample; prints one JSON object.

Every seed writes its own sample (``seed``, ``--days`` days, ``--symbols`` symbols), publishes version 2
by hand ``live_days`` before the data's end and regrows the bot's trades after it under version 2
(:func:`backtests.audit_cases.hand_change`), then audits it through the desk exactly as ``playbook-tuner
audit`` does (``case.desk(settings).audit()``). Per case it counts the seeds by version 2's verdict and
gives the share flagged ``worse`` and ``better`` with a 95 % Clopper-Pearson interval, the mean realised
effect and trades. A seed that fails is recorded as ``{"error": message}`` and counted apart.

Cases (the change is momentum's strategy weight; nothing else differs between the versions):

- ``null``: ``structure=False`` (no drift, no pull: every symbol's price is a martingale) and no fees,
  for the bot (``ReplaySettings(fee=0.0)``) and for the audit (``Settings(replay=ReplaySettings(fee=0.0))``);
  momentum's weight 1.0 -> 0.1. Stops, targets and maximum holds are stopping times and stakes are set
  before entry, so every trade's return has mean zero under either version and the two versions take
  the same trades: only their stakes differ. The per-trade growth difference ``log(1 + s_new r) -
  log(1 + s_old r)`` then has mean about ``-(s_new**2 - s_old**2) var(r) / 2 > 0``: a second-order
  variance-drag difference that favours the cut. So a ``worse`` flag is a false alarm (its rate must be
  at most ``alpha``); a ``better`` flag is not wrong, only the drag showing.
- ``planted_bad``: ``structure=True``, default fees, the same cut. Momentum's trades carry the sample's
  planted edge (the trending regimes' drift), so cutting them is truly worse: the share flagged
  ``worse`` is the audit's power and the share flagged ``better`` its wrong verdicts.
- ``planted_good``: ``structure=True``, momentum's weight 1.0 -> 1.5 (more of the edge; the sample's
  stakes are far below the Kelly stake, so more of a positive edge grows the account faster): the share
  ``better`` is the power, the share ``worse`` the wrong verdicts.
- ``planted_bad_young``: ``planted_bad`` after ``--young-days`` (7) live days instead of 30, on the
  same seeds' samples: power grows with the trades.

Settings are the defaults (``alpha`` 0.05, ``min_trades`` 30, 1000 bootstrap replications) except the
null case's fee. The regimes' warm-up (112 bars, under 10 hours; the volatility rank's window is 500
bars, under 2 days) ends long before a 60-day sample's go-live at day 30.

Run from the repository root, e.g. ``.venv/bin/python backtests/audit_error_rates.py --seeds 40 --jobs
2``. The first run in a fresh environment also compiles the numba kernels (about 100 s per worker).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from scipy.stats import binom, binomtest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.audit_cases import LIVE_DAYS, MOMENTUM_CUT, hand_change, with_weights
from framework.audit_report import VERDICTS
from framework.config import ReplaySettings, Settings
from framework.playbook import Playbook

FEE_FREE = ReplaySettings(fee=0.0)
CONFIDENCE = 0.95
"""Level of the Clopper-Pearson interval of every rate."""
YOUNG_DAYS = 7.0


@dataclasses.dataclass(frozen=True)
class AuditCase:
    """A scripted change whose truth is known: ``truth`` is the verdict a sound audit should reach
    (None: no change in expectation, so ``worse`` is a false alarm)."""

    name: str
    structure: bool
    weights: dict[str, float]
    truth: str | None
    live_days: float = LIVE_DAYS
    replay: ReplaySettings = dataclasses.field(default_factory=ReplaySettings)

    def change(self, playbook: Playbook) -> str:
        return with_weights(playbook, self.weights)

    def settings(self) -> Settings:
        return Settings(replay=self.replay)


def cases(young_days: float = YOUNG_DAYS) -> dict[str, AuditCase]:
    return {
        "null": AuditCase("null", structure=False, weights=MOMENTUM_CUT, truth=None, replay=FEE_FREE),
        "planted_bad": AuditCase("planted_bad", structure=True, weights=MOMENTUM_CUT, truth="worse"),
        "planted_good": AuditCase("planted_good", structure=True, weights={"momentum": 1.5}, truth="better"),
        "planted_bad_young": AuditCase(
            "planted_bad_young", structure=True, weights=MOMENTUM_CUT, truth="worse", live_days=young_days
        ),
    }


OPPOSITE = {"worse": "better", "better": "worse"}


@dataclasses.dataclass(frozen=True)
class Task:
    case: AuditCase
    seed: int
    days: int
    symbols: int
    folder: Path


def run_seed(task: Task) -> dict[str, Any]:
    """One seed's live month and its audit; an exception becomes ``error``."""
    started = time.perf_counter()
    case = task.case
    try:
        live = hand_change(
            task.folder,
            case.change,
            seed=task.seed,
            days=task.days,
            live_days=case.live_days,
            symbols=task.symbols,
            structure=case.structure,
            replay=case.replay,
        )
        audit = live.desk(case.settings()).audit().of(2)
    except Exception as exc:  # a failed seed is an outcome of the benchmark, not the end of it
        return {"seed": task.seed, "error": f"{type(exc).__name__}: {exc}", "seconds": _since(started)}
    assert audit is not None, "the audit has no version 2"
    row: dict[str, Any] = {"seed": task.seed, "verdict": audit.verdict, "note": audit.note}
    if audit.realised is not None:
        realised = audit.realised
        row |= {
            "kind": realised.kind,
            "trades": realised.trades,
            "clusters": realised.clusters,
            "effect": realised.effect,
            "p_worse": round(realised.p_worse, 5),
            "p_better": round(realised.p_better, 5),
        }
    return row | {"seconds": _since(started)}


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def rate(count: int, total: int) -> dict[str, Any]:
    """``count`` of ``total`` as a share with its exact (Clopper-Pearson) interval."""
    if not total:
        return {"count": count, "of": total, "share": None, "interval": None}
    low, high = binomtest(count, total).proportion_ci(CONFIDENCE, method="exact")
    return {"count": count, "of": total, "share": round(count / total, 3), "interval": [round(low, 3), round(high, 3)]}


def max_flags(seeds: int, alpha: float, tail: float = 1e-3) -> int:
    """The least M with P(Binomial(seeds, alpha) > M) < ``tail``: more than M false alarms in ``seeds``
    null seeds is evidence (at ``tail``) that the false-alarm rate exceeds ``alpha``."""
    return next(m for m in range(seeds + 1) if binom.sf(m, seeds, alpha) < tail)


def summarize(case: AuditCase, rows: list[dict[str, Any]], details: bool) -> dict[str, Any]:
    done = [r for r in rows if "error" not in r]
    errors = Counter(r["error"] for r in rows if "error" in r)
    verdicts = Counter(r["verdict"] for r in done)
    realised = [r for r in done if "effect" in r]
    summary: dict[str, Any] = {
        "structure": case.structure,
        "change": {"strategy_weights": case.weights},
        "live_days": case.live_days,
        "fee": case.replay.fee,
        "truth": case.truth,
        "seeds": len(rows),
        "completed": len(done),
        "verdicts": {v: verdicts[v] for v in VERDICTS},
        "worse": rate(verdicts["worse"], len(done)),
        "better": rate(verdicts["better"], len(done)),
        "mean_effect": _mean([r["effect"] for r in realised]),
        "mean_trades": _mean([r["trades"] for r in realised]),
        "mean_clusters": _mean([r["clusters"] for r in realised]),
        "errors": {"count": sum(errors.values()), "messages": dict(errors.most_common())},
        "seconds_per_seed": _mean([r["seconds"] for r in rows], 2),
    }
    if case.truth is None:
        summary["false_alarm_rate"] = summary["worse"]["share"]
    else:
        summary["power"] = summary[case.truth]["share"]
        summary["wrong_rate"] = summary[OPPOSITE[case.truth]]["share"]
    if details:
        summary["details"] = rows
    return summary


def _mean(values: list[float], digits: int = 6) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = list(cases())
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", default=",".join(names), help=f"comma list of {', '.join(names)}")
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds (samples) per case")
    parser.add_argument("--first-seed", type=int, default=1000, help="first sample seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (the machine has 2 shared cores)")
    parser.add_argument("--days", type=int, default=60, help="days of each sample")
    parser.add_argument("--symbols", type=int, default=3, help="symbols of each sample")
    parser.add_argument("--young-days", type=float, default=YOUNG_DAYS, help="live days of planted_bad_young")
    parser.add_argument("--details", action="store_true", help="also list every seed's verdict")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases.split(",")) - set(names))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(names)}")
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    if args.days <= LIVE_DAYS + 2:
        parser.error(f"--days must exceed the {LIVE_DAYS} live days by more than the regimes' warm-up (2 days)")
    return args


def run(selected: list[AuditCase], seeds: range, days: int, symbols: int, jobs: int) -> list[list[dict[str, Any]]]:
    """Every case's rows, one per seed, in seed order."""
    with tempfile.TemporaryDirectory(prefix="audit-error-rates-") as folder:
        root = Path(folder)
        tasks = [Task(case, seed, days, symbols, root / f"{case.name}-{seed}") for case in selected for seed in seeds]
        if jobs == 1:
            rows = [_shown(task, run_seed(task)) for task in tasks]
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                rows = [_shown(task, row) for task, row in zip(tasks, pool.map(run_seed, tasks), strict=True)]
    return [rows[k * len(seeds) : (k + 1) * len(seeds)] for k in range(len(selected))]


def _shown(task: Task, row: dict[str, Any]) -> dict[str, Any]:
    """``row``, written to stderr as it comes (a run cut short keeps the seeds it finished)."""
    print(json.dumps({"case": task.case.name} | row), file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    known = cases(args.young_days)
    selected = [known[name] for name in args.cases.split(",")]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    settings = Settings().audit
    per_case = run(selected, seeds, args.days, args.symbols, args.jobs)
    return {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "days": args.days,
        "symbols": args.symbols,
        "alpha": settings.alpha,
        "min_trades": settings.min_trades,
        "reps": settings.reps,
        "null_max_flags_at_1e-3": max_flags(args.seeds, settings.alpha),
        "cases": {
            case.name: summarize(case, rows, args.details) for case, rows in zip(selected, per_case, strict=True)
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
