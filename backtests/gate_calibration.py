"""Calibrate the validation gate on samples with and without planted structure; prints one JSON object.

For each seed, the embedded sample's generator writes a market with no edge to find (``--no-structure``:
no drift, no pull) and one with its planted structure, the bot's trades are tuned and gated exactly as
``playbook-tuner tune`` does, and the accepted changes are counted. On the planted samples an accepted
change is in the right direction when it moves the way ``truth.json``'s ``planted_directions`` say;
accepted changes the truth says nothing about are counted apart.

Run from the repository root: ``.venv/bin/python backtests/gate_calibration.py [--seeds 20] [--days 120]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.config import Settings
from framework.market import load_market
from framework.playbook import load_playbook
from framework.regimes import label_trades
from framework.sample import PLANTED_DIRECTIONS, write_sample
from framework.trades import load_trades
from framework.tuners import load_tuners
from framework.validation import Verdict, run_gate


def direction(verdict: Verdict) -> str:
    return "up" if verdict.value > verdict.proposal.proposal.current else "down"


def planted(verdict: Verdict) -> str | None:
    slot = verdict.slot
    return PLANTED_DIRECTIONS.get(slot.regime, {}).get(slot.parameter)


def session(seed: int, days: int, structure: bool, root: Path) -> tuple[list[Verdict], list[dict[str, object]]]:
    sample = write_sample(root / f"{seed}-{structure}", seed=seed, days=days, structure=structure)
    market = load_market(sample.prices)
    trades = label_trades(load_trades(sample.trades).frame, market)
    settings = Settings()
    report = run_gate(
        trades,
        market,
        load_playbook(sample.playbook),
        settings,
        load_tuners(list(settings.tuners)),
        seed=seed,
    )
    details = [
        {"slot": v.slot.describe(), "direction": direction(v), "p": round(v.p_value, 4), "dsr": round(v.dsr, 3),
         "reason": v.reason}
        for v in report.verdicts
    ]  # fmt: skip
    return list(report.accepted), details


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--details", action="store_true", help="also list every verdict of every session")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    result: dict[str, object] = {"seeds": args.seeds, "first_seed": args.first_seed, "days": args.days}
    with tempfile.TemporaryDirectory() as folder:
        for structure, key in ((False, "no_edge"), (True, "planted")):
            sessions_with_any = 0
            counts: Counter[str] = Counter()
            accepted_slots: Counter[str] = Counter()
            details: dict[int, list[dict[str, object]]] = {}
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                accepted, details[seed] = session(seed, args.days, structure, Path(folder))
                sessions_with_any += bool(accepted)
                for verdict in accepted:
                    accepted_slots[f"{verdict.slot.describe()} {direction(verdict)}"] += 1
                    truth = planted(verdict)
                    counts["unrated" if truth is None else "right" if truth == direction(verdict) else "wrong"] += 1
            result[key] = {
                "sessions": args.seeds,
                "sessions_with_any_accepted_change": sessions_with_any,
                "accepted_changes": sum(accepted_slots.values()),
                "right_direction": counts["right"],
                "wrong_direction": counts["wrong"],
                "not_in_planted_truth": counts["unrated"],
                "accepted_by_slot": dict(accepted_slots.most_common()),
                **({"verdicts": details} if args.details else {}),
            }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
