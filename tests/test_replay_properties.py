"""replay() against the plain-Python reference of docs/REPLAY.md, on random markets, trades and playbooks.

Markets have 1-3 symbols with their own timeframes, sometimes missing bars and opening gaps; prices are
sometimes on a 0.5 tick grid so that bars touch the stop, take-profit and liquidation levels exactly.
Trades enter on bar opens, inside bars, in holes and on the last bar; their logged exits carry all six
reasons and sometimes lie after the data's end. Some symbols have a funding-rate series whose times
fall on entries and exits. Playbooks override some parameters per regime, with leverage up to 50 (so
that liquidations happen), small stops, sometimes no max_hold, and strategy weights up to 10 (so that the
account can be ruined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from framework.config import ReplaySettings
from framework.market import TIMEFRAMES, Candles, Market, gap_report
from framework.playbook import PARAMETERS, Playbook, parse_playbook
from framework.regimes import REGIMES
from framework.replay import replay
from framework.trades import EXIT_REASONS, validate_trades
from tests.reference_replay import assert_same_outcomes, parameters_for, reference_replay, strategy_weight

ORIGIN = pd.Timestamp("2024-03-01", tz="UTC")
SYMBOLS = ("BTC/USDT", "ETH/USDT", "XRP/USDT:USDT")
STRATEGIES = ("default", "momentum", "mean_reversion")
TICK = 0.5

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class SymbolBars:
    """Candles of one symbol and the grid they sit on: slot ``k`` opens at ``origin + k * length``."""

    candles: Candles
    origin: pd.Timestamp
    length: pd.Timedelta
    slots: tuple[int, ...]  # grid slots that have a row; the others are holes
    funding: Candles | None


@dataclass(frozen=True)
class Case:
    trades: pd.DataFrame
    market: Market
    playbook: Playbook
    settings: ReplaySettings


def on_grid(price: float, tick: float | None) -> float:
    return price if tick is None else max(tick, round(price / tick) * tick)


@st.composite
def symbol_bars(draw: st.DrawFn, symbol: str) -> SymbolBars:
    timeframe = draw(st.sampled_from(("1m", "5m", "1h")))
    length = TIMEFRAMES[timeframe]
    n_slots = draw(st.integers(1, 30))
    tick = draw(st.sampled_from((None, TICK)))
    price = on_grid(draw(st.floats(50.0, 200.0)), tick)
    rows = []
    for _ in range(n_slots):
        opening_gap = draw(st.floats(-0.25, 0.25)) if draw(st.integers(0, 7)) == 0 else 0.0
        open_ = on_grid(price * (1 + opening_gap), tick)
        close = on_grid(open_ * (1 + draw(st.floats(-0.04, 0.04))), tick)
        high = on_grid(max(open_, close) * (1 + draw(st.floats(0.0, 0.03))), tick)
        low = on_grid(min(open_, close) * (1 - draw(st.floats(0.0, 0.03))), tick)
        rows.append((open_, max(high, open_, close), min(low, open_, close), close))
        price = close
    holes = draw(st.sets(st.integers(0, n_slots - 1), max_size=n_slots - 1)) if draw(st.booleans()) else set()
    slots = tuple(k for k in range(n_slots) if k not in holes)
    origin = ORIGIN + draw(st.integers(0, 3)) * length
    index = pd.DatetimeIndex([origin + k * length for k in slots], name="date").as_unit("ns")
    frame = pd.DataFrame(
        [rows[k] for k in slots], columns=["open", "high", "low", "close"], index=index, dtype="float64"
    )
    frame["volume"] = 1.0
    candles = Candles(
        symbol=symbol,
        timeframe=timeframe,
        candle_type="futures" if ":" in symbol else "spot",
        frame=frame,
        source=Path(f"<{symbol}>"),
        gaps=gap_report(index, length),
    )
    funding = draw(funding_series(symbol, timeframe, origin, n_slots)) if draw(st.booleans()) else None
    return SymbolBars(candles=candles, origin=origin, length=length, slots=slots, funding=funding)


@st.composite
def funding_series(draw: st.DrawFn, symbol: str, timeframe: str, origin: pd.Timestamp, n_slots: int) -> Candles:
    """Funding every 1-3 bars of the symbol's grid and past the data's end; rates (fractions) in ``open``."""
    every = TIMEFRAMES[timeframe] * draw(st.integers(1, 3))
    start = origin + draw(st.integers(-2, 2)) * TIMEFRAMES[timeframe]
    index = pd.DatetimeIndex([start + k * every for k in range(n_slots + 4)], name="date").as_unit("ns")
    rates = draw(st.lists(st.floats(-0.001, 0.001), min_size=len(index), max_size=len(index)))
    frame = pd.DataFrame({column: rates for column in ("open", "high", "low", "close")}, index=index)
    frame["volume"] = np.nan
    return Candles(symbol, timeframe, "funding_rate", frame, Path(f"<{symbol} funding>"), gap_report(index, every))


@st.composite
def trade_log(draw: st.DrawFn, markets: list[SymbolBars]) -> pd.DataFrame:
    rows = []
    with_fees = draw(st.booleans())
    for number in range(draw(st.integers(1, 12))):
        bars = draw(st.sampled_from(markets))
        seconds = int(bars.length.total_seconds())
        last = bars.slots[-1]
        slot = draw(st.one_of(st.just(last), st.integers(-2, last)))
        inside = draw(st.booleans())
        entry_time = bars.origin + slot * bars.length
        if inside:
            entry_time += pd.Timedelta(seconds=draw(st.integers(1, seconds - 1)))
        frame = bars.candles.frame
        bars_before = int(frame.index.searchsorted(entry_time, side="right"))
        reference_price = float(frame["close"].iloc[bars_before - 1] if bars_before else frame["open"].iloc[0])
        tick = TICK if draw(st.booleans()) else None
        entry_price = on_grid(reference_price * (1 + draw(st.floats(-0.01, 0.01))), tick)

        exit_slot = draw(st.integers(max(slot, 0), last + 5))
        if draw(st.booleans()):
            exit_time = bars.origin + (exit_slot + 1) * bars.length  # on a bar close
        else:
            exit_time = bars.origin + exit_slot * bars.length + pd.Timedelta(seconds=draw(st.integers(1, seconds)))
        if exit_time <= entry_time:
            exit_time = entry_time + bars.length
        rows.append(
            {
                "trade_id": f"t{number}",
                "symbol": bars.candles.symbol,
                "side": draw(st.sampled_from(("long", "short"))),
                "entry_time": entry_time,
                "entry_price": entry_price,
                "exit_time": exit_time,
                "exit_price": reference_price * (1 + draw(st.floats(-0.1, 0.1))),
                "confidence": draw(st.one_of(st.sampled_from((0.5, 0.6, 0.7, 0.8)), st.floats(0.0, 1.0))),
                "regime": draw(st.sampled_from((*REGIMES, None))),
                "strategy": draw(st.sampled_from(STRATEGIES)),
                "exit_reason": draw(st.sampled_from(EXIT_REASONS)),
                **(draw(FEE_COLUMNS) if with_fees else {}),
            }
        )
    trades = validate_trades(pd.DataFrame(rows), source="<hypothesis trades>").frame
    if draw(st.booleans()):
        trades = trades.iloc[::-1].reset_index(drop=True)  # replay keeps the frame's order, sorted or not
    return trades


def yaml_number(value: float) -> str:
    return np.format_float_positional(value, trim="-")


PARAMETER_VALUES = {
    "leverage": st.one_of(st.sampled_from((1.0, 5.0, 20.0, 50.0)), st.floats(1.0, 50.0)),
    "stop_loss": st.one_of(st.sampled_from((0.01, 0.02, 0.05)), st.floats(0.001, 0.1)),
    "risk_reward_ratio": st.one_of(st.sampled_from((1.0, 2.0, 3.0)), st.floats(0.2, 5.0)),
    "confidence_threshold": st.one_of(
        st.sampled_from((0.0, 0.5, 0.6, 0.7, 0.8, 1.0)), st.floats(0.0, 1.0, allow_subnormal=False)
    ),
    "position_size": st.one_of(st.sampled_from((0.1, 0.5, 1.0)), st.floats(0.001, 1.0)),
    "trailing_stop_positive_offset": st.one_of(st.sampled_from((0.0, 0.005, 0.02)), st.floats(0.0, 0.1)),
    "minimal_roi_scale": st.one_of(st.sampled_from((1.0, 0.5, 2.0)), st.floats(0.25, 4.0)),
}
FEE = st.sampled_from((math.nan, 0.0, 0.0005, 0.001, 0.002))
FEE_COLUMNS = st.fixed_dictionaries({"fee_open": FEE, "fee_close": FEE})
ROI_STEP_MINUTES = st.one_of(st.sampled_from((0, 1, 3, 5, 10, 15, 30, 60)), st.integers(0, 300))
ROI_RATIOS = st.one_of(st.sampled_from((-1.0, 0.0, 0.005, 0.01, 0.02, 0.05)), st.floats(-0.05, 0.2))
ROI_TABLES = st.one_of(st.none(), st.dictionaries(ROI_STEP_MINUTES, ROI_RATIOS, min_size=1, max_size=5))
TRAILING_DISTANCES = st.one_of(st.none(), st.sampled_from((0.002, 0.01, 0.03)), st.floats(0.001, 0.1))
MAX_HOLDS = st.one_of(
    st.none(),
    st.sampled_from(("1m", "3m", "5m", "10m", "25m", "1h", "3h")),  # often a whole number of bars
    st.integers(1, 600).map(lambda n: f"{n}m"),
    st.integers(1, 7200).map(lambda n: f"{n}s"),
)


@st.composite
def parameter_block(draw: st.DrawFn, keys: tuple[str, ...] | list[str]) -> list[str]:
    lines = []
    for key in PARAMETERS:
        if key not in keys:
            continue
        if key == "max_hold":
            hold = draw(MAX_HOLDS)
            lines.append("max_hold:" if hold is None else f"max_hold: {hold}")
        elif key == "trailing_stop":
            lines.append(f"trailing_stop: {str(draw(st.booleans())).lower()}")
        elif key == "trailing_stop_positive":
            distance = draw(TRAILING_DISTANCES)
            lines.append(f"{key}:" if distance is None else f"{key}: {yaml_number(distance)}")
        elif key == "risk_reward_ratio" and draw(st.booleans()):
            lines.append(f"{key}:")  # no take-profit
        elif key == "minimal_roi":
            table = draw(ROI_TABLES)
            lines.append(f"{key}:")
            lines += [f"  {minutes}: {yaml_number(ratio)}" for minutes, ratio in sorted((table or {}).items())]
        else:
            lines.append(f"{key}: {yaml_number(draw(PARAMETER_VALUES[key]))}")
    return lines


@st.composite
def playbooks(draw: st.DrawFn) -> Playbook:
    lines = ["bounds:", "  leverage: [1, 50]", "default:"]
    lines += ["  " + line for line in draw(parameter_block(PARAMETERS))]
    overridden = draw(st.lists(st.sampled_from(REGIMES), unique=True))
    if overridden:
        lines.append("regimes:")
    for regime in overridden:
        keys = draw(st.lists(st.sampled_from(PARAMETERS), unique=True))
        lines.append(f"  {regime}:")
        lines += ["    " + line for line in draw(parameter_block(keys))]
    weighted = draw(st.lists(st.sampled_from(STRATEGIES), unique=True))
    if weighted:
        lines.append("strategy_weights:")
    for strategy in weighted:
        weight = draw(st.one_of(st.sampled_from((0.0, 0.5, 10.0)), st.floats(0.0, 10.0, allow_subnormal=False)))
        lines.append(f"  {strategy}: {yaml_number(weight)}")
    return parse_playbook("\n".join(lines) + "\n", "<hypothesis playbook>")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True))
    markets = [draw(symbol_bars(symbol)) for symbol in symbols]
    market = Market(
        candles={bars.candles.symbol: bars.candles for bars in markets},
        funding={bars.candles.symbol: bars.funding for bars in markets if bars.funding is not None},
        source=Path("<hypothesis>"),
    )
    replay_settings = ReplaySettings(
        fee=draw(st.sampled_from((0.0, 0.0005, 0.002))),
        maintenance_margin_rate=draw(st.sampled_from((0.0, 0.005, 0.01))),
        funding=draw(st.booleans()),
    )
    return Case(draw(trade_log(markets)), market, draw(playbooks()), replay_settings)


def outcomes(case: Case, result: pd.DataFrame) -> set[str]:
    """What a case exercises, by its reference ``result``: exit reasons and the rarer paths."""
    found = {reason for reason in result["exit_reason"] if reason is not None}
    if not result["taken"].all():
        found.add("not taken")
    for trade, margin in zip(case.trades.to_dict("records"), result["margin"], strict=True):
        share = parameters_for(case.playbook, trade["regime"])["position_size"]
        if margin == 0.0 and share * strategy_weight(case.playbook, trade["strategy"]) > 0.0:
            found.add("ruined account")
    if case.settings.funding:
        without = reference_replay(
            case.trades, case.market, case.playbook, case.settings.model_copy(update={"funding": False})
        )
        if not np.array_equal(result["return"], without["return"], equal_nan=True):
            found.add("funding charged")
    return found


OUTCOMES = (
    "stop_loss", "take_profit", "roi", "liquidation", "signal", "time", "end_of_data",
    "not taken", "ruined account", "funding charged",
)  # fmt: skip


def test_replay_matches_the_reference() -> None:
    """The property; then a check that the generated cases exercised every rule at least once."""
    seen: set[str] = set()

    @PROPERTY_SETTINGS
    @given(cases())
    def replay_agrees(case: Case) -> None:
        got = replay(case.trades, case.market, case.playbook, case.settings)
        expected = reference_replay(case.trades, case.market, case.playbook, case.settings)
        found = outcomes(case, expected)
        for outcome in found:
            event(outcome)
        seen.update(found)
        assert_same_outcomes(got, expected, case.trades)

    replay_agrees()
    assert set(OUTCOMES) <= seen, f"the generated cases never reached: {sorted(set(OUTCOMES) - seen)}"
