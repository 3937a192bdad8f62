"""Planted cases on real candles: trade logs whose truth is known, for calibrating the validation gate.

Each case takes real candles from ``../shared/data`` (resampled in a work folder, written in freqtrade's
layout so that ``load_market`` reads them; the shared data itself is never copied into the project), and
writes a bot's trade log and playbook whose one planted effect is known:

- entries: ``n_trades`` (symbol, bar) pairs drawn uniformly from the bars with a known regime whose
  ``hold`` fits in the data; the entry is at the bar's open (the replay starts scanning there);
- exit: logged at ``entry + hold`` at the close of the last bar closing by then, reason ``signal``, so the
  logged exit binds in the replay (docs/REPLAY.md, rule 5) and the playbook's ``max_hold`` equals ``hold``;
- confidence: uniform in [0.3, 1.0]; the playbook's threshold is 0.30, so every trade is taken;
- side: "right" (the sign of the price move from entry to exit) with a probability that depends on the
  trade's regime (``framework.regimes.label_trades`` on the written candles) and confidence: in
  ``regime``, ``accuracy_above`` at confidence >= ``true_threshold`` and ``accuracy_below`` under it, in
  every other regime ``other_accuracy`` (0.5: nothing to find there);
- stop-loss 30 % and take-profit 60 % in the playbook: beyond almost every 48-hour move of these markets,
  so the logged exits decide (on the BTC pairs about 2 % of the trades, January 2018's wildest altcoin
  moves, reach the stop first); the cases plant nothing in the stop or the target.

What this plants, by kind: ``confidence``: the confidence threshold in ``regime`` should rise (towards
``true_threshold``); ``leverage``: accuracy above 0.5 in ``regime`` at a playbook leverage far below the
Kelly leverage, so leverage there should rise. A null case (``direction`` None) plants nothing in the
parameter it is named after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from framework.market import TIMEFRAMES, Market, load_candles, load_market, write_candles
from framework.playbook import DEFAULT_REGIME, STRATEGY_WEIGHTS
from framework.regimes import REGIMES, label_trades
from framework.trades import write_log

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""``../shared/data`` beside the repository (read only)."""

CONFIDENCE_RANGE = (0.3, 1.0)
PLAYBOOK_THRESHOLD = 0.30
STOP_LOSS = 0.30
RISK_REWARD = 2.0
STRATEGY = "planted"
EDGE_STRATEGY, PLAIN_STRATEGY = "edge", "plain"
"""The two strategies of a strategy-weight case: one whose trades are right more often, one at 0.5."""

BTC_PAIRS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")


@dataclass(frozen=True)
class CandleSet:
    """Real candles a case trades: files under ``../shared/data/freqtrade`` (with the symbol to give a
    file whose name is not a freqtrade name), resampled to ``timeframe``."""

    name: str
    files: tuple[tuple[str, str | None], ...]
    timeframe: str


CANDLE_SETS = {
    "btc_pairs_1h": CandleSet("btc_pairs_1h", tuple((f"{p}_BTC-5m.feather", None) for p in BTC_PAIRS), "1h"),
    "btc_usdt_1h": CandleSet("btc_usdt_1h", (("orderflow/candles.json", "BTC/USDT"),), "1h"),
    "btc_pairs_5m": CandleSet("btc_pairs_5m", tuple((f"{p}_BTC-5m.feather", None) for p in BTC_PAIRS), "5m"),
    "btc_usdt_5m": CandleSet("btc_usdt_5m", (("orderflow/candles.json", "BTC/USDT"),), "5m"),
}
"""The 10 ``*_BTC-5m`` pairs (20 days of January 2018) and the BTC/USDT perpetual of
``orderflow/candles.json`` (38 days of 2023), at 1h and as they are (5m; the regime warm-up of 112 bars
then costs 9 hours instead of 4.7 days)."""


@dataclass(frozen=True)
class PlantedCase:
    """One planted truth. Accuracies are probabilities (0-1) that a trade's side is the sign of its move.

    ``parameter`` is the slot the case is about (its block is ``regime``), ``direction`` the change the
    planting justifies there ("up"/"down"), None for a null case; ``effect`` labels the effect size.
    """

    kind: str
    effect: str
    regime: str
    parameter: str
    direction: str | None
    accuracy_above: float
    accuracy_below: float
    true_threshold: float = 0.65
    other_accuracy: float = 0.5
    candles: str = "btc_pairs_1h"
    n_trades: int = 3000
    hold: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=48))
    leverage: float = 1.0

    @property
    def mean_accuracy(self) -> float:
        """Accuracy in ``regime`` over all confidences (confidence uniform on CONFIDENCE_RANGE)."""
        low, high = CONFIDENCE_RANGE
        above = (high - self.true_threshold) / (high - low)
        return above * self.accuracy_above + (1.0 - above) * self.accuracy_below

    def judge(self, block: str, parameter: str, direction: str) -> str:
        """What an accepted change is worth under the planted truth: "planted" (the change the case is
        about), "true" (another change the planting justifies), "wrong" (a change the truth refutes), or
        "unrated" (the truth says nothing of it, e.g. a stop-loss in the planted regime).

        True: leverage up in ``regime`` when its trades have an edge (leverage 1 is far below Kelly).
        Wrong: the planted slot moved the other way; anything in a regime with no edge at all; a
        confidence threshold where confidence carries nothing; leverage up where there is no edge, down
        where there is one.
        """
        if (block, parameter) == (self.regime, self.parameter) and self.direction is not None:
            return "planted" if direction == self.direction else "wrong"
        if self.kind.startswith("strategy"):
            edge = self.accuracy_above > 0.5
            if block == STRATEGY_WEIGHTS:
                return "true" if edge and parameter == PLAIN_STRATEGY and direction == "down" else "wrong"
            if parameter == "leverage":  # half the book has an edge: more leverage everywhere is justified
                return "true" if edge and direction == "up" else "wrong"
            return "wrong" if parameter == "confidence_threshold" else "unrated"
        if block not in (self.regime, DEFAULT_REGIME) and block in REGIMES and self.other_accuracy == 0.5:
            return "wrong"
        if block == self.regime:
            if parameter == "confidence_threshold" and self.accuracy_above == self.accuracy_below:
                return "wrong"
            if parameter == "leverage":
                edge = self.mean_accuracy > 0.5
                return "true" if edge == (direction == "up") else "wrong"
        return "unrated"


@dataclass(frozen=True)
class CaseFiles:
    """A written case: what ``playbook-tuner tune --trades --prices --playbook`` would be given."""

    trades: Path
    prices: Path
    playbook: Path
    position_size: float
    """The playbook's position size (fraction of equity per trade): about 1 / the mean number of open
    trades, so that the open margin is about the equity."""


def confidence_cases(candles: str = "btc_pairs_1h") -> list[PlantedCase]:
    """The issue's headline case at four effect sizes (accuracy above / below a true threshold 0.65 in
    ranging), the strongest being 0.85 / 0.40."""
    effects = ((0.55, 0.45), (0.65, 0.45), (0.75, 0.42), (0.85, 0.40))
    return [
        PlantedCase("confidence", f"{a:.2f}/{b:.2f}", "ranging", "confidence_threshold", "up", a, b, candles=candles)
        for a, b in effects
    ]


def confidence_nulls(candles: str = "btc_pairs_1h") -> list[PlantedCase]:
    """Confidence carries nothing in ranging: accuracy 0.5 everywhere, and a uniform edge of 0.55."""
    return [
        PlantedCase("confidence_null", f"{a:.2f}", "ranging", "confidence_threshold", None, a, a, candles=candles)
        for a in (0.5, 0.55)
    ]


def leverage_cases(candles: str = "btc_pairs_1h") -> list[PlantedCase]:
    """A real edge in ranging (accuracy independent of confidence) at leverage 1, far below Kelly; the
    null has accuracy 0.5 there (no edge: more leverage must not be accepted)."""
    return [
        PlantedCase("leverage", f"{a:.2f}", "ranging", "leverage", "up" if a > 0.5 else None, a, a, candles=candles)
        for a in (0.5, 0.52, 0.55, 0.6, 0.7)
    ]


def strategy_cases(candles: str = "btc_pairs_1h") -> list[PlantedCase]:
    """Two strategies at weight 1: ``edge``'s trades are right with the effect's accuracy, ``plain``'s
    half the time, so edge's weight should rise (or plain's fall); the null has both at 0.5."""
    return [
        PlantedCase(
            "strategy" if a > 0.5 else "strategy_null",
            f"{a:.2f}",
            STRATEGY_WEIGHTS,
            EDGE_STRATEGY,
            "up" if a > 0.5 else None,
            a,
            a,
            candles=candles,
        )
        for a in (0.5, 0.55, 0.6, 0.7)
    ]


def write_candle_set(name: str, folder: Path, data: Path = SHARED_DATA) -> Path:
    """Resample a candle set into ``folder`` in freqtrade's layout and return ``folder``.

    ``FileNotFoundError`` naming the path when the shared data is absent.
    """
    spec = CANDLE_SETS[name]
    length = TIMEFRAMES[spec.timeframe]
    for file, symbol in spec.files:
        path = data / "freqtrade" / file
        if not path.exists():
            raise FileNotFoundError(f"real candles not found at {path} (the cases need ../shared/data)")
        candles = load_candles(path, symbol=symbol)
        resampled = candles.frame.resample(length).agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        write_candles(resampled.dropna(subset=["open"]), folder, candles.symbol, spec.timeframe)
    return folder


def generate_trades(case: PlantedCase, market: Market, seed: int) -> pd.DataFrame:
    """The case's trade log (canonical columns, no ``regime``: tune computes it) and, in column
    ``planted_regime``, the regime ``label_trades`` gives each entry. Same seed, same log."""
    rng = np.random.default_rng(seed)
    eligible = _eligible_entries(market, case.hold)
    picks = rng.choice(len(eligible), size=case.n_trades, replace=len(eligible) < case.n_trades)
    trades = eligible.iloc[np.sort(picks)].reset_index(drop=True)
    confidence = rng.uniform(*CONFIDENCE_RANGE, size=len(trades))
    regime = trades["regime"].to_numpy()
    accuracy = np.where(
        regime == case.regime,
        np.where(confidence >= case.true_threshold, case.accuracy_above, case.accuracy_below),
        case.other_accuracy,
    )
    right = rng.random(len(trades)) < accuracy
    strategy = np.full(len(trades), STRATEGY, dtype=object)
    if case.kind.startswith("strategy"):
        # Half the trades are the edge strategy's, right with the case's accuracy; the others' stay 0.5.
        strategy = np.where(rng.random(len(trades)) < 0.5, EDGE_STRATEGY, PLAIN_STRATEGY)
        right = rng.random(len(trades)) < np.where(strategy == EDGE_STRATEGY, case.accuracy_above, 0.5)
    up = (trades["exit_price"] >= trades["entry_price"]).to_numpy()
    long = up == right
    return pd.DataFrame(
        {
            "trade_id": [f"p{seed}-{k}" for k in range(len(trades))],
            "symbol": trades["symbol"],
            "side": np.where(long, "long", "short"),
            "entry_time": trades["entry_time"],
            "entry_price": trades["entry_price"],
            "exit_time": trades["exit_time"],
            "exit_price": trades["exit_price"],
            "confidence": confidence,
            "strategy": strategy,
            "leverage": case.leverage,
            "exit_reason": "signal",
            "planted_regime": regime,
        }
    )


def write_case(case: PlantedCase, folder: Path, seed: int, prices: Path) -> CaseFiles:
    """Write the case's trade log and playbook into ``folder``; ``prices`` holds its candle set
    (:func:`write_candle_set`)."""
    market = load_market(prices)
    trades = generate_trades(case, market, seed)
    span_hours = (trades["entry_time"].max() - trades["entry_time"].min()) / pd.Timedelta(hours=1)
    open_trades = len(trades) * (case.hold / pd.Timedelta(hours=1)) / max(span_hours, 1.0)
    position_size = float(np.clip(round(1.0 / open_trades, 4), 0.001, 0.1))
    folder.mkdir(parents=True, exist_ok=True)
    files = CaseFiles(folder / "trades.csv", prices, folder / "playbook.yaml", position_size)
    write_log(trades.drop(columns="planted_regime"), files.trades)
    files.playbook.write_text(playbook_text(case, position_size), encoding="utf-8")
    return files


def playbook_text(case: PlantedCase, position_size: float) -> str:
    """The bot's playbook as the log was recorded: one default block, levels too wide to bind."""
    hours = int(case.hold / pd.Timedelta(hours=1))
    return (
        "# A planted case's playbook (backtests/planted_cases.py): levels too wide to bind.\n"
        "default:\n"
        f"  leverage: {case.leverage:g}\n"
        f"  stop_loss: {STOP_LOSS:g}\n"
        f"  risk_reward_ratio: {RISK_REWARD:g}\n"
        f"  confidence_threshold: {PLAYBOOK_THRESHOLD:.2f}\n"
        f"  position_size: {position_size:g}\n"
        f"  max_hold: {hours}h\n"
        "bounds:\n"
        "  leverage: [1, 20]\n"
        "  position_size: [0.001, 0.5]\n"
    )


def _eligible_entries(market: Market, hold: pd.Timedelta) -> pd.DataFrame:
    """Every (symbol, bar) whose regime is known at the bar's open and whose hold ends within the data:
    entry at the bar's open, exit at ``open + hold`` at the close of the last bar that closed by then."""
    frames = []
    for symbol in market.symbols():
        candles = market.for_symbol(symbol)
        frame = candles.frame
        length = TIMEFRAMES[candles.timeframe]
        opens = frame.index
        exit_times = opens + hold
        closes = (opens + length).as_unit("ns").asi8
        last = np.searchsorted(closes, exit_times.as_unit("ns").asi8, side="right") - 1
        fits = exit_times <= opens[-1] + length
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "entry_time": opens[fits],
                    "entry_price": frame["open"].to_numpy()[fits],
                    "exit_time": exit_times[fits],
                    "exit_price": frame["close"].to_numpy()[last[fits]],
                }
            )
        )
    entries = label_trades(pd.concat(frames, ignore_index=True), market)
    return entries[entries["regime"].isin(REGIMES)].reset_index(drop=True)
