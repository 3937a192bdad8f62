"""Named edge cases of replay(): the last bar, holes in the data, bad trades, liquidation, funding,
sizing, nothing taken.

Each case is checked against values worked out by hand from docs/REPLAY.md, and the plain-Python
reference is held to the same values. Bars are 5 minutes long; slot ``k`` opens at ``T0 + k * STEP``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.errors import InputError
from framework.market import TIMEFRAMES, Candles, Market, gap_report
from framework.playbook import Playbook, parse_playbook
from framework.replay import replay
from framework.trades import validate_trades
from tests.reference_replay import RESULT_COLUMNS, assert_same_outcomes, reference_replay

T0 = pd.Timestamp("2024-03-01", tz="UTC")
STEP = TIMEFRAMES["5m"]
MINUTE = pd.Timedelta(minutes=1)
NO_FEES = ReplaySettings(fee=0.0, maintenance_margin_rate=0.005)
QUIET = (100.0, 100.5, 99.5, 100.0)


def candles(
    *ohlc: tuple[float, float, float, float], slots: tuple[int, ...] | None = None, symbol: str = "BTC/USDT"
) -> Candles:
    """5-minute candles; ``slots`` places row ``i`` at ``T0 + slots[i] * STEP`` (default 0, 1, 2...)."""
    slots = tuple(range(len(ohlc))) if slots is None else slots
    index = pd.DatetimeIndex([T0 + k * STEP for k in slots], name="date").as_unit("ns")
    frame = pd.DataFrame(list(ohlc), columns=["open", "high", "low", "close"], index=index, dtype="float64")
    frame["volume"] = 1.0
    return Candles(symbol, "5m", "spot", frame, Path(f"<{symbol}>"), gap_report(index, STEP))


def market(*series: Candles, funding: Candles | None = None) -> Market:
    rates = {} if funding is None else {funding.symbol: funding}
    return Market(candles={c.symbol: c for c in series}, funding=rates, source=Path("<test market>"))


def funding_rates(*rates: tuple[pd.Timestamp, float], symbol: str = "BTC/USDT") -> Candles:
    """A funding-rate series: (funding time, rate as a fraction) pairs; the rate is in ``open``."""
    index = pd.DatetimeIndex([time for time, _ in rates], name="date").as_unit("ns")
    values = [rate for _, rate in rates]
    frame = pd.DataFrame({c: values for c in ("open", "high", "low", "close")}, index=index)
    frame["volume"] = float("nan")
    return Candles(symbol, "5m", "funding_rate", frame, Path("<funding>"), gap_report(index, STEP))


def trades(*rows: dict[str, Any]) -> pd.DataFrame:
    """A canonical trade log; each row overrides a long BTC/USDT trade entering at T0 at 100."""
    base = {
        "symbol": "BTC/USDT",
        "side": "long",
        "entry_time": T0,
        "entry_price": 100.0,
        "exit_time": T0 + 10 * STEP,
        "exit_price": 100.0,
        "confidence": 0.8,
        "exit_reason": "stop_loss",
    }
    raw = pd.DataFrame([{"trade_id": f"t{i}", **base, **row} for i, row in enumerate(rows)])
    return validate_trades(raw, source="<test trades>").frame


def playbook(regimes: str = "", **default: Any) -> Playbook:
    """Default block: leverage 1, 2 % stop, risk/reward 2, threshold 0.5, no max_hold, over which
    ``default`` writes; ``regimes`` is YAML appended as it is."""
    values = {
        "leverage": 1,
        "stop_loss": 0.02,
        "risk_reward_ratio": 2,
        "confidence_threshold": 0.5,
        "position_size": 0.1,
        "max_hold": "",
        **default,
    }
    lines = ["bounds:", "  leverage: [1, 50]", "default:", *(f"  {k}: {v}" for k, v in values.items())]
    return parse_playbook("\n".join(lines) + "\n" + regimes, "<test playbook>")


def run(log: pd.DataFrame, data: Market, book: Playbook, settings: ReplaySettings = NO_FEES) -> pd.DataFrame:
    """replay(), after checking that the reference replay agrees with it on this case."""
    got = replay(log, data, book, settings)
    assert_same_outcomes(got, reference_replay(log, data, book, settings), log)
    return got


def outcome(result: pd.DataFrame, row: int = 0) -> tuple[pd.Timestamp, float, str]:
    exit_ = result.iloc[row]
    return exit_["exit_time"], exit_["exit_price"], exit_["exit_reason"]


# --- the last bar ---------------------------------------------------------------------------------


def test_entry_at_the_last_bars_open_scans_that_bar() -> None:
    data = market(candles(QUIET, QUIET, (100.0, 104.5, 99.8, 104.0)))
    result = run(trades({"entry_time": T0 + 2 * STEP}), data, playbook())
    assert outcome(result) == (T0 + 2 * STEP, 104.0, "take_profit")
    assert result["return"].iloc[0] == pytest.approx(0.04)


def test_entry_inside_the_last_bar_ends_at_the_data_end() -> None:
    # the last bar's low of 90 may predate the entry: no bar is scanned, the data ends at its close
    data = market(candles(QUIET, QUIET, (100.0, 100.5, 90.0, 100.7)))
    result = run(trades({"entry_time": T0 + 2 * STEP + 2 * MINUTE}), data, playbook())
    assert outcome(result) == (T0 + 3 * STEP, 100.7, "end_of_data")
    assert result["return"].iloc[0] == pytest.approx(0.007)


def test_a_binding_exit_after_the_data_end_is_kept() -> None:
    data = market(candles(QUIET, QUIET, QUIET))
    log = trades(
        {
            "entry_time": T0 + 2 * STEP + MINUTE,
            "exit_time": T0 + 9 * STEP,
            "exit_price": 101.0,
            "exit_reason": "time",
        }
    )
    assert outcome(run(log, data, playbook())) == (T0 + 9 * STEP, 101.0, "signal")


# --- holes in the data ----------------------------------------------------------------------------

GAPPED = candles(QUIET, QUIET, (100.0, 104.5, 99.8, 104.2), slots=(0, 1, 4))


def test_the_gapped_series_has_one_hole_of_two_bars() -> None:
    assert (GAPPED.gaps.gaps, GAPPED.gaps.missing_bars, GAPPED.gaps.longest) == (1, 2, 2 * STEP)


def test_max_hold_ends_at_the_close_of_a_bar_that_exists() -> None:
    # 15 minutes elapse inside the hole; the first bar closing at or after it is slot 4 (closes at 25 min)
    book = playbook(max_hold="15m", risk_reward_ratio=5)
    result = run(trades({}), market(GAPPED), book)
    assert outcome(result) == (T0 + 5 * STEP, 104.2, "time")


def test_entry_inside_a_hole_starts_at_the_next_bar() -> None:
    deep_dip = (100.0, 100.5, 90.0, 100.0)
    data = market(candles(QUIET, deep_dip, (100.0, 104.5, 99.8, 104.2), slots=(0, 1, 4)))
    result = run(trades({"entry_time": T0 + 2 * STEP + MINUTE}), data, playbook())
    assert outcome(result) == (T0 + 4 * STEP, 104.0, "take_profit")


def test_a_binding_exit_inside_a_hole_ignores_the_bars_after_it() -> None:
    crash = (100.0, 100.2, 80.0, 81.0)
    data = market(candles(QUIET, QUIET, crash, slots=(0, 1, 4)))
    log = trades({"exit_time": T0 + 3 * STEP, "exit_price": 100.3, "exit_reason": "signal"})
    assert outcome(run(log, data, playbook())) == (T0 + 3 * STEP, 100.3, "signal")


# --- bad trades -----------------------------------------------------------------------------------


def test_a_symbol_without_candles_is_an_input_error_naming_it() -> None:
    log = trades({}, {"symbol": "ETH/USDT"})
    with pytest.raises(InputError, match="ETH/USDT") as caught:
        replay(log, market(candles(QUIET)), playbook(), NO_FEES)
    assert [problem.field for problem in caught.value.problems] == ["symbol"]


def test_entries_after_the_last_candle_are_one_input_error_naming_each_trade() -> None:
    data = market(candles(QUIET, QUIET))
    last_close = T0 + 2 * STEP
    log = trades(
        {"entry_time": last_close - pd.Timedelta(seconds=1)},
        {"entry_time": last_close},
        {"entry_time": last_close + 3 * STEP},
    )
    with pytest.raises(InputError) as caught:
        replay(log, data, playbook(), NO_FEES)
    problems = caught.value.problems
    assert [problem.field for problem in problems] == ["entry_time", "entry_time"]
    assert "'t1'" in problems[0].message and "'t2'" in problems[1].message
    assert "'t0'" not in str(caught.value)


# --- liquidation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "bar", "liquidation_price"),
    [
        # leverage 10, maintenance 0.5 %: liquidation 9.5 % away, nearer than the 15 % stop
        ("long", (100.0, 100.0, 88.0, 90.0), 90.5),
        ("short", (100.0, 112.0, 100.0, 110.0), 109.5),
    ],
)
def test_a_stop_beyond_the_liquidation_price_liquidates_with_the_whole_margin(
    side: str, bar: tuple[float, float, float, float], liquidation_price: float
) -> None:
    fees = ReplaySettings(fee=0.001, maintenance_margin_rate=0.005)
    result = run(trades({"side": side}), market(candles(bar)), playbook(leverage=10, stop_loss=0.15), fees)
    exit_time, price, reason = outcome(result)
    assert (exit_time, reason) == (T0, "liquidation")
    assert price == pytest.approx(liquidation_price, rel=1e-12)
    assert result["return"].iloc[0] == -1.0


def test_a_liquidation_price_equal_to_the_stop_liquidates() -> None:
    # leverage 20 without maintenance margin: liquidation at 95, exactly the 5 % stop
    settings = ReplaySettings(fee=0.0, maintenance_margin_rate=0.0)
    data = market(candles((100.0, 100.2, 94.0, 96.0)))
    result = run(trades({}), data, playbook(leverage=20, stop_loss=0.05), settings)
    assert outcome(result) == (T0, 95.0, "liquidation")
    assert result["return"].iloc[0] == -1.0


def test_a_bar_opening_beyond_the_liquidation_price_liquidates_at_the_open() -> None:
    # the 2 % stop (98) is nearer than the liquidation (90.5), but the bar gaps past both
    data = market(candles(QUIET, (89.0, 92.0, 88.0, 91.0)))
    result = run(trades({}), data, playbook(leverage=10))
    assert outcome(result) == (T0 + STEP, 89.0, "liquidation")
    assert result["return"].iloc[0] == -1.0


# --- what is taken --------------------------------------------------------------------------------


def test_no_trade_taken_leaves_every_exit_column_empty() -> None:
    data = market(candles(QUIET, (100.0, 104.5, 97.0, 104.0)))
    log = trades({"confidence": 0.5}, {"confidence": 0.89, "side": "short"})
    result = run(log, data, playbook(confidence_threshold=0.9))
    assert result["trade_id"].tolist() == ["t0", "t1"]
    assert not result["taken"].any()
    assert result["exit_time"].isna().all() and result["exit_reason"].isna().all()
    for column in ("exit_price", "return", "margin", "pnl"):
        assert result[column].isna().all()


@pytest.mark.parametrize("rows", [0, 2], ids=["no trades", "none taken"])
def test_exit_times_stay_nanoseconds_when_nothing_is_taken(rows: int) -> None:
    log = trades({"confidence": 0.5}, {"confidence": 0.6}).iloc[:rows]
    result = replay(log, market(candles(QUIET)), playbook(confidence_threshold=0.9), NO_FEES)
    assert str(result["exit_time"].dtype) == "datetime64[ns, UTC]"


def test_a_confidence_equal_to_the_threshold_is_taken() -> None:
    result = run(trades({"confidence": 0.7}), market(candles(QUIET)), playbook(confidence_threshold=0.7))
    assert result["taken"].tolist() == [True]


def test_regimes_the_playbook_does_not_list_and_missing_regimes_use_the_default() -> None:
    cautious = "regimes:\n  volatile:\n    confidence_threshold: 0.9\n"
    log = trades({"regime": "volatile"}, {"regime": "ranging"}, {"regime": None})
    result = run(log, market(candles(QUIET)), playbook(cautious))
    assert result["taken"].tolist() == [False, True, True]


def test_an_empty_trade_frame_gives_an_empty_result() -> None:
    empty = trades({}).iloc[:0]
    result = run(empty, market(candles(QUIET)), playbook())
    assert len(result) == 0
    assert list(result.columns) == list(RESULT_COLUMNS)


# --- funding and sizing ---------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "expected_return"), [("long", -0.0006), ("short", 0.0006)])
def test_funding_charges_the_rates_due_after_the_entry_through_the_exit(side: str, expected_return: float) -> None:
    rates = funding_rates(
        (T0, 0.01),  # at the entry: not charged
        (T0 + STEP, 0.0001),
        (T0 + 2 * STEP, 0.0002),  # at the exit: charged
        (T0 + 3 * STEP, 0.01),
    )
    data = market(candles(QUIET, QUIET, QUIET, QUIET), funding=rates)
    log = trades({"side": side, "exit_time": T0 + 2 * STEP, "exit_price": 100.0, "exit_reason": "signal"})
    # leverage 2, exit at the entry price, no fee: the return is the funding alone, 2 x 0.0003
    result = run(log, data, playbook(leverage=2))
    assert result["return"].iloc[0] == pytest.approx(expected_return, rel=1e-9)
    unfunded = run(log, data, playbook(leverage=2), NO_FEES.model_copy(update={"funding": False}))
    assert unfunded["return"].iloc[0] == 0.0


def test_margin_compounds_the_pnl_realised_strictly_before_the_entry() -> None:
    data = market(candles(QUIET, QUIET, QUIET, QUIET))
    first_exit = {"exit_time": T0 + STEP, "exit_price": 110.0, "exit_reason": "signal"}
    log = trades(
        first_exit,  # +10 % on a margin of 1,000 (10 % of 10,000): pnl 100
        {"entry_time": T0 + STEP},  # enters as the first exits: not yet realised
        {"entry_time": T0 + STEP + MINUTE, "strategy": "momentum"},  # 10 % x weight 0.5 x 10,100
    )
    result = run(log, data, playbook("strategy_weights:\n  momentum: 0.5\n"))
    assert result["margin"].tolist() == pytest.approx([1000.0, 1000.0, 505.0])
    assert result["pnl"].iloc[0] == pytest.approx(100.0)


def test_a_ruined_account_sizes_later_trades_at_zero() -> None:
    # weight 20 x 10 %: a margin of twice the equity, liquidated at 98.5 (leverage 50): equity -10,000
    data = market(candles((100.0, 100.2, 98.0, 98.2), QUIET, QUIET))
    log = trades({"strategy": "all_in"}, {"entry_time": T0 + STEP + MINUTE})
    result = run(log, data, playbook("strategy_weights:\n  all_in: 20\n", leverage=50, stop_loss=0.05))
    assert result["exit_reason"].iloc[0] == "liquidation"
    assert result["pnl"].iloc[0] == pytest.approx(-20_000.0)
    assert result["margin"].iloc[1] == 0.0 and result["pnl"].iloc[1] == 0.0
