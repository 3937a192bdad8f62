"""The fidelity of our replay against freqtrade itself, as a figure (JSON on stdout).

freqtrade backtests the example strategy (strategies/freqtrade_example.py) under playbook v1 and each
changed candidate on the ten shared ``*_BTC-5m`` pairs (full range); v1's export is replayed under each
candidate and compared with freqtrade's trades of that candidate, trade by trade
(tests/freqtrade_harness/fidelity.py; docs/REPLAY.md, "Fidelity against freqtrade"). Needs freqtrade
(the dev extra) and ../shared/data::

    .venv/bin/python backtests/freqtrade_fidelity.py [--folder DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.freqtrade_harness.fidelity import CLASSES, PLAYBOOKS, PROFIT_DIGIT, compare, run_backtests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="keep freqtrade's runs here (default: a temporary folder)")
    parser.add_argument("--workers", type=int, help="backtests at once (default: one per CPU)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs = run_backtests(arguments.folder or Path(scratch), PLAYBOOKS, workers=arguments.workers)
        candidates = {name: (runs["playbooks"][name], runs["exports"][name]) for name in PLAYBOOKS}
        comparisons = compare(runs["exports"]["v1"], candidates)
    changed = [c for c in comparisons if c.candidate != "v1"]
    figure = {
        "pairs": 10,
        "candidates": len(changed),
        "trades_compared": sum(c.compared for c in changed),
        "agreeing": sum(c.agreeing for c in changed),
        "classes": {name: sum(c.classes[name] for c in changed) for name in CLASSES},
        "disagreeing_outside_the_classes": sum(len(c.disagreements) for c in changed),
        "return_tolerance": f"PROFIT_DIGIT / stake + PROFIT_DIGIT, PROFIT_DIGIT = {PROFIT_DIGIT:g}",
        "per_candidate": [c.as_json() for c in comparisons],
        "backtest_seconds": runs["seconds"],
        "backtest_wall_seconds": runs["wall_seconds"],
    }
    print(json.dumps(figure, indent=2))


if __name__ == "__main__":
    main()
