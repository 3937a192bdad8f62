"""The exit-scan kernel, one rule per test, on hand-made bars (5-minute bars, times in ns)."""

from __future__ import annotations

import numpy as np
import pytest

from framework.playbook import KERNEL_DTYPE
from framework.replay import kernels

STEP = 300 * 10**9
MMR = 0.005


def bars(*ohlc: tuple[float, float, float, float]) -> tuple[np.ndarray, ...]:
    data = np.array(ohlc, dtype=np.float64)
    times = np.arange(len(ohlc), dtype=np.int64) * STEP
    return times, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy(), data[:, 3].copy()


def scan(
    candles: tuple[np.ndarray, ...],
    *,
    entry_ns: int = 0,
    entry: float = 100.0,
    direction: float = 1.0,
    stop_loss: float = 0.02,
    rr: float = 2.0,
    leverage: float = 1.0,
    max_hold_ns: int = -1,
    logged_exit_ns: int = 0,
    logged_exit_price: float = 0.0,
    binds: bool = False,
    times: np.ndarray | None = None,
    trailing: tuple[float, float] | None = None,
    price_tick: float = 0.0,
) -> tuple[int, float, int]:
    """``trailing``: (trailing_stop_positive, its offset) to switch the trailing stop on (nan: none)."""
    t, o, h, low, c = candles
    if times is not None:
        t = times
    one = np.ones(1, dtype=np.int64)
    first_bar, bar_bound = kernels.trade_windows(
        t, 0 * one, len(t) * one, STEP * one, entry_ns * one, logged_exit_ns * one, np.full(1, binds)
    )
    paths = kernels.TradePaths(
        first_bar, bar_bound, (len(t) - 1) * one, STEP * one, entry_ns * one, np.full(1, entry),
        np.full(1, direction), logged_exit_ns * one, np.full(1, logged_exit_price), np.full(1, binds),
    )  # fmt: skip
    parameters = np.zeros(1, dtype=KERNEL_DTYPE)
    parameters[["stop_loss", "risk_reward_ratio", "leverage", "max_hold"]] = (stop_loss, rr, leverage, max_hold_ns)
    if trailing is not None:
        fields = ["trailing_stop", "trailing_stop_positive", "trailing_stop_positive_offset"]
        parameters[fields] = (True, *trailing)
    bars_ = kernels.Bars(t, o, c, *kernels.build_trees(low, h))
    exit_ns, price, reason = kernels.trade_exit(bars_, paths, 0, parameters[0], MMR, 0.0, 0.0, price_tick)
    return int(exit_ns), float(price), int(reason)


def test_take_profit_fills_at_the_level() -> None:
    candles = bars((100, 101, 99, 100), (100, 104.5, 99.5, 104))
    assert scan(candles) == (STEP, 104.0, kernels.TAKE_PROFIT)


def test_stop_wins_when_a_bar_touches_both_levels() -> None:
    candles = bars((100, 105, 97, 100))
    assert scan(candles) == (0, 98.0, kernels.STOP_LOSS)


def test_a_bar_that_opens_beyond_the_stop_fills_at_the_open() -> None:
    candles = bars((100, 101, 99, 100), (96, 97, 95, 96))
    assert scan(candles) == (STEP, 96.0, kernels.STOP_LOSS)


def test_short_levels_mirror_long_ones() -> None:
    candles = bars((100, 101, 99, 100), (100, 100.5, 95.5, 96))
    assert scan(candles, direction=-1.0) == (STEP, 96.0, kernels.TAKE_PROFIT)


def test_entry_inside_a_bar_skips_that_bar() -> None:
    candles = bars((100, 100.5, 90, 100), (100, 104.2, 99, 104))
    # the first bar's low of 90 may predate an entry at minute 2: only the second bar counts
    assert scan(candles, entry_ns=120 * 10**9) == (STEP, 104.0, kernels.TAKE_PROFIT)


def test_a_missing_bar_is_not_a_bar() -> None:
    candles = bars((100, 100.5, 99.5, 100), (100, 104.5, 99.5, 104))
    gapped = np.array([0, 3 * STEP], dtype=np.int64)
    # entry in the hole between the bars: the scan starts at the next bar that exists
    assert scan(candles, entry_ns=STEP, times=gapped) == (3 * STEP, 104.0, kernels.TAKE_PROFIT)


def test_max_hold_exits_at_the_close_of_the_bar_where_it_elapses() -> None:
    candles = bars((100, 100.5, 99.5, 100.2), (100.2, 100.6, 99.8, 100.4), (100.4, 100.9, 99.9, 100.7))
    assert scan(candles, max_hold_ns=7 * 60 * 10**9) == (2 * STEP, 100.4, kernels.TIME)


def test_logged_signal_exit_binds_unless_a_level_comes_first() -> None:
    quiet = bars((100, 100.5, 99.5, 100.2), (100.2, 100.6, 99.8, 100.4), (100.4, 104.5, 99.9, 104))
    assert scan(quiet, logged_exit_ns=2 * STEP, logged_exit_price=100.4, binds=True) == (
        2 * STEP,
        100.4,
        kernels.SIGNAL,
    )
    # not binding (a logged stop or take-profit): the replay looks further
    assert scan(quiet, logged_exit_ns=2 * STEP, logged_exit_price=100.4, binds=False) == (
        2 * STEP,
        104.0,
        kernels.TAKE_PROFIT,
    )


def test_stop_beyond_the_liquidation_price_liquidates() -> None:
    candles = bars((100, 100.5, 99.5, 100), (100, 100, 88, 90))
    # leverage 10: liquidation at 100 * (1 - (0.1 - 0.005)) = 90.5, above a 15 % stop at 85
    exit_ns, price, reason = scan(candles, leverage=10.0, stop_loss=0.15)
    assert (exit_ns, reason) == (STEP, kernels.LIQUIDATION)
    assert price == pytest.approx(90.5)


def test_data_end_closes_at_the_last_close() -> None:
    candles = bars((100, 100.5, 99.5, 100.3))
    assert scan(candles) == (STEP, 100.3, kernels.END_OF_DATA)


def test_margin_return_counts_leverage_and_fees_and_cannot_lose_more_than_the_margin() -> None:
    assert kernels.margin_return(1.0, 2.0, 100.0, 104.0, 0.0005) == pytest.approx(2 * 0.04 - 0.0005 * 2 * 2.04)
    assert kernels.margin_return(-1.0, 1.0, 100.0, 104.0, 0.0) == pytest.approx(-0.04)
    assert kernels.margin_return(1.0, 50.0, 100.0, 90.0, 0.0) == -1.0


# Trailing stop: stop_loss 2 %, so the trail starts at 98 and follows the best price at 2 % below it.
QUIET_ENTRY = (100, 100.5, 99.8, 100.2)


def test_trailing_stop_follows_the_best_price_and_fills_at_its_level() -> None:
    candles = bars(QUIET_ENTRY, (100.2, 103, 101.5, 102.5), (102.5, 102.6, 100.5, 101))
    assert scan(candles) == (3 * STEP, 101.0, kernels.END_OF_DATA)  # off: the fixed stop at 98 holds
    exit_ns, price, reason = scan(candles, trailing=(np.nan, 0.0))
    assert (exit_ns, reason) == (2 * STEP, kernels.STOP_LOSS)
    assert price == pytest.approx(103 * 0.98)


def test_trailing_stop_positive_applies_past_the_offset() -> None:
    candles = bars(QUIET_ENTRY, (100.2, 103, 101.5, 102.5), (102.5, 102.6, 100.5, 101))
    # best 103 is 3 % up, past the 1 % offset: the trail is 0.5 % below it and the same bar's low reaches it
    exit_ns, price, reason = scan(candles, trailing=(0.005, 0.01))
    assert (exit_ns, reason) == (STEP, kernels.STOP_LOSS)
    assert price == pytest.approx(103 * 0.995)
    # an offset beyond the best move keeps the stop_loss distance
    exit_ns, price, _ = scan(candles, trailing=(0.005, 0.05))
    assert (exit_ns, price) == (2 * STEP, pytest.approx(103 * 0.98))


def test_trailing_stop_gapped_through_fills_at_the_open() -> None:
    candles = bars(QUIET_ENTRY, (100.2, 103, 101.5, 102.5), (100.0, 100.2, 99.0, 99.5))
    assert scan(candles, trailing=(np.nan, 0.0)) == (2 * STEP, 100.0, kernels.STOP_LOSS)


def test_trailing_stop_in_the_entry_bar_fills_at_its_distance_from_the_open() -> None:
    candles = bars((100, 103, 99.5, 102))
    # the bar's high moved the trail to 100.94 and its low reached it, but the order inside the entry
    # bar is unknown: the fill is the trailing distance below the open, clipped into the bar
    assert scan(candles, trailing=(np.nan, 0.0)) == (0, 99.5, kernels.STOP_LOSS)


def test_a_trailed_stop_reached_as_it_stands_is_not_moved_by_the_bar() -> None:
    # the trail stands at 100.5 x 0.98 = 98.49 after the entry bar; the next bar's low reaches it, so
    # (freqtrade moves a stop only while it is below the bar's low) its high of 104 moves nothing
    candles = bars(QUIET_ENTRY, (100.2, 104, 98.0, 99))
    exit_ns, price, reason = scan(candles, trailing=(np.nan, 0.0))
    assert (exit_ns, reason) == (STEP, kernels.STOP_LOSS)
    assert price == pytest.approx(100.5 * 0.98)


def test_with_a_price_tick_the_stop_rounds_towards_the_entry() -> None:
    # a 2.5 % stop is 97.5, on a tick of 1 it is 98 (freqtrade rounds a long's stop up, a short's down)
    candles = bars(QUIET_ENTRY, (100, 100.5, 97.9, 99))
    assert scan(candles, stop_loss=0.025, rr=np.nan) == (2 * STEP, 99.0, kernels.END_OF_DATA)
    assert scan(candles, stop_loss=0.025, rr=np.nan, price_tick=1.0) == (STEP, 98.0, kernels.STOP_LOSS)
    short = bars(QUIET_ENTRY, (100, 102.1, 99.5, 101))
    assert scan(short, stop_loss=0.025, rr=np.nan, direction=-1.0, price_tick=1.0) == (STEP, 102.0, kernels.STOP_LOSS)


def test_with_a_price_tick_a_trailed_stop_rounds_towards_the_entry_and_fills_on_the_tick() -> None:
    candles = bars(QUIET_ENTRY, (100.2, 103, 101.5, 102.5), (102.5, 102.6, 100.5, 101))
    # 103 x 0.98 = 100.94 rounds up to 101 on a tick of 1; the bar that reaches it fills there
    assert scan(candles, trailing=(np.nan, 0.0), price_tick=1.0) == (2 * STEP, 101.0, kernels.STOP_LOSS)
    # in the entry bar the fill (the trail's distance below the open, 97.5, clipped to the low 97.8) is
    # put on the tick too
    entry_bar = bars((100, 103, 97.8, 102))
    assert scan(entry_bar, trailing=(np.nan, 0.0), stop_loss=0.025, price_tick=0.5) == (0, 98.0, kernels.STOP_LOSS)


def test_to_tick_rounds_up_down_and_to_the_nearest_and_keeps_a_price_on_the_grid() -> None:
    assert kernels.to_tick(1.23456, 0.01, 1) == 1.24
    assert kernels.to_tick(1.23456, 0.01, -1) == 1.23
    assert kernels.to_tick(1.23556, 0.01, 0) == 1.24
    assert kernels.to_tick(1.225, 0.01, 0) == 1.23  # halves up
    assert kernels.to_tick(0.3, 0.1, 1) == 0.3  # the float nearest a step is on the grid
    assert kernels.to_tick(0.1 + 0.2, 0.1, 1) == 0.4  # 0.30000000000000004 is not: up, as freqtrade does
    assert kernels.to_tick(4.9040000000000005e-05, 1e-8, 0) == 4.904e-05  # the float nearest the decimal
    assert kernels.to_tick(1.23456, 0.0, 1) == 1.23456


def test_trailing_stop_short_mirrors_long() -> None:
    candles = bars(QUIET_ENTRY, (99.8, 98.5, 97, 97.5), (97.5, 99.5, 97.4, 99))
    exit_ns, price, reason = scan(candles, direction=-1.0, trailing=(np.nan, 0.0))
    assert (exit_ns, reason) == (2 * STEP, kernels.STOP_LOSS)
    assert price == pytest.approx(97 * 1.02)
