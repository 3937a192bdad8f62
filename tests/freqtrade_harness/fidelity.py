"""Our replay against freqtrade itself: freqtrade backtests a playbook v1 and changed candidates v2; we
replay v1's export under each v2 and compare the trades both take, trade by trade.

:func:`run_backtests` runs freqtrade (in parallel subprocesses, :func:`tests.freqtrade_harness.run_backtest`)
on the example strategy, once per playbook. :func:`compare` reads v1's export as every command reads a
trade log (:func:`framework.freqtrade.read_trade_log`), replays it as ``playbook-tuner replay`` does
(labels, :func:`framework.replay.prepare`, :func:`framework.replay.replay_candidates`) with
``[replay] price_ticks = "candles"``, and matches trades on pair and open time.

A shared trade agrees when the exit time and the exit reason are the same and the returns agree within
:data:`PROFIT_DIGIT` (per unit of stake) once put on one basis: ours is on the margin (notional / leverage), freqtrade's
``profit_ratio`` on the open trade value (the margin with the entry fee), so ours = profit_ratio x
(1 + d x fee_open), exactly, for the same fill. What a trade log cannot tell is counted by class
(:data:`CLASSES`); docs/REPLAY.md ("Fidelity against freqtrade") explains each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.freqtrade import read_trade_log
from framework.market import Market, load_market
from framework.playbook import load_playbook
from framework.regimes import label_trades
from framework.replay import prepare, replay_candidates
from tests.freqtrade_harness import FREQTRADE_DATA, ROOT, export_trades, run_backtest

EXAMPLE = ROOT / "strategies" / "freqtrade_example.py"
CONFIG = {"max_open_trades": 10}
"""One trade per pair at a time (freqtrade's backtesting without position stacking) and a slot for
each of the ten pairs, so that no slot limit decides which signals v1 and v2 take."""

_HEAD = "default:\n  risk_reward_ratio:\n  leverage: 1.0\n  position_size: 0.1\n  confidence_threshold: 0.0\n"
_ROI = "  minimal_roi:\n    0: 0.03\n    30: 0.015\n    120: 0.0\n"
PLAYBOOKS = {
    "v1": _HEAD + "  stop_loss: 0.05\n" + _ROI,
    "tighter_stop": _HEAD + "  stop_loss: 0.02\n" + _ROI,
    "half_roi": _HEAD + "  stop_loss: 0.05\n  minimal_roi_scale: 0.5\n" + _ROI,
    "trailing": _HEAD
    + "  stop_loss: 0.03\n  trailing_stop: true\n  trailing_stop_positive: 0.01\n"
    + "  trailing_stop_positive_offset: 0.02\n"
    + _ROI,
}
"""v1, then the candidates v2 (v1 itself is also replayed under v1)."""

PROFIT_DIGIT = 1e-8
"""freqtrade's export rounds profit_abs to 8 decimals of the stake currency and profit_ratio to 8
decimals, so a trade's ratio carries up to PROFIT_DIGIT / stake + PROFIT_DIGIT of rounding (1.1e-7 on a
0.1 BTC stake): the return tolerance of each trade."""

CLASSES = {
    "only_in_freqtrade": "trades freqtrade's v2 opened that v1 never did (a pair free earlier under v2)",
    "only_in_v1": "v1's trades that v2 did not open (the pair still held a v2 trade)",
    "gap_through_stop": "a candle opened beyond the stop and came back to it: we fill at the open "
    "(the exchange's and vectorbt's rule), freqtrade at the stop",
    "fill_outside_candle": "the exit price rounded to the tick falls outside its candle by a float's last "
    "digit: freqtrade's order stays unfilled and it exits on a later candle",
}
_REASONS = {"roi": "roi", "stop_loss": "stop_loss", "trailing_stop_loss": "stop_loss", "liquidation": "liquidation"}


@dataclass
class Comparison:
    """One candidate's comparison: counts, the largest return differences and the disagreements."""

    candidate: str
    freqtrade_trades: int
    replayed_trades: int
    compared: int = 0
    agreeing: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    largest_return_difference: float = 0.0
    """Largest |ours - freqtrade's profit_ratio x (1 + d fee_open)| over agreeing exits."""
    largest_raw_return_difference: float = 0.0
    """Largest |ours - freqtrade's profit_ratio| (the fee basis) over agreeing exits."""
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    """Shared trades in no class that disagree (the target is none)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "freqtrade_trades": self.freqtrade_trades,
            "replayed_trades": self.replayed_trades,
            "compared": self.compared,
            "agreeing": self.agreeing,
            "classes": self.classes,
            "largest_return_difference": self.largest_return_difference,
            "largest_raw_return_difference": self.largest_raw_return_difference,
            "disagreements": self.disagreements[:10],
        }


def run_backtests(folder: Path, playbooks: Mapping[str, str], *, workers: int | None = None) -> dict[str, Any]:
    """freqtrade's backtest of the example strategy under each playbook (text), in parallel:
    ``{"exports": {name: path}, "playbooks": {name: path}, "seconds": {name: s}, "wall_seconds": s}``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in playbooks.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text)
        load_playbook(paths[name])
    seconds: dict[str, float] = {}

    def one(name: str) -> Path:
        started = time.perf_counter()
        export = run_backtest(EXAMPLE, folder=folder / name, playbook_path=paths[name], config_overrides=CONFIG)
        seconds[name] = round(time.perf_counter() - started, 1)
        return export

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or min(len(playbooks), os.cpu_count() or 2)) as pool:
        exports = dict(zip(playbooks, pool.map(one, playbooks), strict=True))
    return {
        "exports": exports,
        "playbooks": paths,
        "seconds": seconds,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def replay_settings() -> Settings:
    """Our defaults with the replay on freqtrade's price ticks (per-trade fees come from the export)."""
    settings = Settings()
    return settings.model_copy(update={"replay": settings.replay.model_copy(update={"price_ticks": "candles"})})


def compare(
    v1_export: Path, candidates: Mapping[str, tuple[Path, Path]], market: Market | None = None
) -> list[Comparison]:
    """Replay v1's export under each candidate (name -> (playbook, freqtrade's export under it)) and
    compare with freqtrade's trades of that candidate."""
    settings = replay_settings()
    market = market or load_market(FREQTRADE_DATA)
    log = read_trade_log(v1_export, settings.freqtrade).log.frame
    inputs = prepare(label_trades(log, market), market, settings.replay)
    names = list(candidates)
    result = replay_candidates(
        inputs, [load_playbook(candidates[n][0]) for n in names], settings.replay, per_trade=True
    )
    keys = pd.DataFrame(
        {
            "pair": log["symbol"].to_numpy(),
            "open_date": pd.DatetimeIndex(log["entry_time"]).as_unit("ns"),
            "direction": np.where(log["side"].to_numpy() == "short", -1.0, 1.0),
            "fee_open": log["fee_open"].to_numpy(np.float64),
        }
    )
    return [
        _compare_one(name, keys.join(result.trades(k)), candidates[name][1], market) for k, name in enumerate(names)
    ]


def _compare_one(name: str, ours: pd.DataFrame, export: Path, market: Market) -> Comparison:
    theirs = export_trades(export)
    theirs["open_date"] = theirs["open_date"].dt.as_unit("ns")
    theirs["close_date"] = theirs["close_date"].dt.as_unit("ns")
    ours = ours[ours["taken"]].rename(columns={"return": "margin_return"})
    shared = ours.merge(theirs, on=["pair", "open_date"], how="inner", suffixes=("", "_ft"))
    comparison = Comparison(name, freqtrade_trades=len(theirs), replayed_trades=len(ours), compared=len(shared))
    comparison.classes = {
        "only_in_freqtrade": len(theirs) - len(shared),
        "only_in_v1": len(ours) - len(shared),
        "gap_through_stop": 0,
        "fill_outside_candle": 0,
    }
    for row in shared.itertuples(index=False):
        reason = _REASONS.get(row.exit_reason_ft, "signal")
        ours_reason = "signal" if row.exit_reason == "end_of_data" else row.exit_reason
        on_basis = row.profit_ratio * (1.0 + row.direction * row.fee_open)
        difference = abs(row.margin_return - on_basis)
        tolerance = PROFIT_DIGIT / row.stake_amount + PROFIT_DIGIT
        same = row.exit_time == row.close_date and ours_reason == reason and difference <= tolerance
        if same:
            comparison.agreeing += 1
            comparison.largest_return_difference = max(comparison.largest_return_difference, difference)
            raw = abs(row.margin_return - row.profit_ratio)
            comparison.largest_raw_return_difference = max(comparison.largest_raw_return_difference, raw)
        elif _fill_outside_candle(row, market):
            comparison.classes["fill_outside_candle"] += 1
        elif _gap_through_stop(row, market) and row.exit_time == row.close_date and ours_reason == reason:
            comparison.classes["gap_through_stop"] += 1
        else:
            comparison.disagreements.append(
                {
                    "pair": row.pair,
                    "open": str(row.open_date),
                    "exit": [str(row.exit_time), str(row.close_date)],
                    "reason": [row.exit_reason, row.exit_reason_ft],
                    "price": [row.exit_price, row.close_rate],
                    "return": [row.margin_return, on_basis],
                }
            )
    return comparison


def _fill_outside_candle(row: Any, market: Market) -> bool:
    """Our level exit's fill (on the tick) lies outside its candle's float low..high."""
    if row.exit_reason not in ("stop_loss", "roi", "take_profit"):
        return False
    bar = market.for_symbol(row.pair).frame.loc[row.exit_time]
    return bool(row.exit_price < bar["low"] or row.exit_price > bar["high"])


def _gap_through_stop(row: Any, market: Market) -> bool:
    """Our stop exit filled at the open of a candle whose other extreme came back to the stop (so
    freqtrade, which fills at the open only when the whole candle is beyond the stop, fills at it)."""
    if row.exit_reason != "stop_loss":
        return False
    bar = market.for_symbol(row.pair).frame.loc[row.exit_time]
    if not np.isclose(row.exit_price, bar["open"], rtol=1e-12, atol=0.0):  # the open, put on the tick
        return False
    return bool(bar["high"] >= row.stop_loss_abs if row.direction > 0 else bar["low"] <= row.stop_loss_abs)
