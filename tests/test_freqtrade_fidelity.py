"""Our replay against freqtrade itself (tests/freqtrade_harness/fidelity.py; docs/REPLAY.md, "Fidelity
against freqtrade"): freqtrade backtests playbook v1 and three changed candidates on the ten shared
pairs; v1's export replayed under each must agree with freqtrade's own trades, trade by trade, except
for the differences a trade log cannot tell (counted by class and printed as JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.freqtrade_harness.fidelity import CLASSES, PLAYBOOKS, Comparison, compare, run_backtests


@pytest.fixture(scope="module")
def fidelity(freqtrade_backtests: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """v1's backtest and each candidate's, run once for the module; the comparisons and the figure."""
    folder = tmp_path_factory.mktemp("fidelity")
    runs = run_backtests(folder, PLAYBOOKS)
    candidates = {name: (runs["playbooks"][name], runs["exports"][name]) for name in PLAYBOOKS}
    comparisons = {c.candidate: c for c in compare(runs["exports"]["v1"], candidates)}
    figure = {
        "pairs": 10,
        "candidates": [name for name in PLAYBOOKS if name != "v1"],
        "comparisons": [c.as_json() for c in comparisons.values()],
        "backtest_seconds": runs["seconds"],
        "backtest_wall_seconds": runs["wall_seconds"],
    }
    (folder / "fidelity.json").write_text(json.dumps(figure, indent=2))
    print(json.dumps(figure, indent=2))
    return {"comparisons": comparisons, "figure": figure}


@pytest.mark.slow
def test_v1_replayed_under_v1_reproduces_its_own_log(fidelity: dict[str, Any]) -> None:
    v1: Comparison = fidelity["comparisons"]["v1"]
    assert v1.compared == v1.freqtrade_trades == v1.replayed_trades > 500
    assert v1.classes["only_in_freqtrade"] == v1.classes["only_in_v1"] == 0
    assert v1.disagreements == []
    assert v1.agreeing + v1.classes["fill_outside_candle"] + v1.classes["gap_through_stop"] == v1.compared


@pytest.mark.slow
@pytest.mark.parametrize("candidate", [name for name in PLAYBOOKS if name != "v1"])
def test_every_shared_trade_outside_the_explained_classes_agrees(fidelity: dict[str, Any], candidate: str) -> None:
    comparison: Comparison = fidelity["comparisons"][candidate]
    assert set(comparison.classes) == set(CLASSES)
    assert comparison.compared > 500
    assert comparison.disagreements == []
    explained = comparison.classes["fill_outside_candle"] + comparison.classes["gap_through_stop"]
    assert comparison.agreeing + explained == comparison.compared
    assert comparison.largest_return_difference < 2e-7
