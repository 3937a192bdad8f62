"""freqtrade's ROI exits in the exit-scan kernel, one backtesting rule per test, on hand-made 5-minute
bars (times in ns; the entry at 100 at time 0 unless a test says otherwise)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framework.playbook import RegimeParameters, kernel_record
from framework.replay import kernels
from tests.test_replay_rules import MMR, STEP, bars


def roi_scan(
    candles: tuple[np.ndarray, ...],
    table: dict[int, float] | None,
    *,
    scale: float = 1.0,
    entry: float = 100.0,
    direction: float = 1.0,
    stop_loss: float = 0.5,
    leverage: float = 1.0,
    fees: tuple[float, float] = (0.0, 0.0),
    trailing: bool = False,
) -> tuple[int, float, int]:
    t, o, h, low, c = candles
    one = np.ones(1, dtype=np.int64)
    first_bar, bar_bound = kernels.trade_windows(
        t, 0 * one, len(t) * one, STEP * one, 0 * one, 0 * one, np.zeros(1, bool)
    )
    paths = kernels.TradePaths(
        first_bar, bar_bound, (len(t) - 1) * one, STEP * one, 0 * one, np.full(1, entry),
        np.full(1, direction), 0 * one, np.zeros(1), np.zeros(1, bool),
    )  # fmt: skip
    parameters = RegimeParameters(
        leverage=leverage,
        stop_loss=stop_loss,
        risk_reward_ratio=None,
        confidence_threshold=0.0,
        position_size=0.1,
        trailing_stop=trailing,
        minimal_roi=None if table is None else tuple(sorted(table.items())),
        minimal_roi_scale=scale,
    )
    bars_ = kernels.Bars(t, o, c, *kernels.build_trees(low, h))
    exit_ns, price, reason = kernels.trade_exit(bars_, paths, 0, kernel_record(parameters), MMR, *fees)
    return int(exit_ns), float(price), int(reason)


FLAT = (100, 100.5, 99.5, 100)


def test_the_step_in_force_is_reached_strictly_above_its_ratio_and_fills_at_its_level() -> None:
    candles = bars(FLAT, (100, 103.0, 99.8, 102), (102, 103.2, 102.5, 103))
    assert roi_scan(candles, {0: 0.03}) == (2 * STEP, 103.0, kernels.ROI)  # 103.0 is a profit of 3 %, not above


def test_no_table_no_roi_exit() -> None:
    candles = bars(FLAT, (100, 110, 99.8, 109))
    assert roi_scan(candles, None)[2] == kernels.END_OF_DATA


def test_a_later_step_takes_over_at_its_minute() -> None:
    candles = bars(FLAT, (100, 101.8, 99.8, 101), (101, 101.6, 100.9, 101.2))
    # 5 % until minute 10, then 1 %: bar 1 (minute 5) passes 1 % but 5 % is in force; bar 2 opens at
    # 101 = the new level, not above it, so it fills at the level
    assert roi_scan(candles, {0: 0.05, 10: 0.01}) == (2 * STEP, 101.0, kernels.ROI)


def test_a_new_step_in_force_at_the_bar_open_fills_at_the_open_when_the_bar_opens_beyond_it() -> None:
    candles = bars(FLAT, (100, 103, 99.8, 102.5), (103, 104, 102, 103.5))
    assert roi_scan(candles, {0: 0.05, 10: 0.01}) == (2 * STEP, 103.0, kernels.ROI)


def test_a_step_that_starts_between_bar_opens_does_not_fill_at_the_open() -> None:
    candles = bars(FLAT, (100, 103, 99.8, 102.5), (103, 104, 102, 103.5))
    # minute 7 is no bar open (7 % 5 != 0): the level clipped into the bar, here its low
    assert roi_scan(candles, {0: 0.05, 7: 0.01}) == (2 * STEP, 102.0, kernels.ROI)


def test_a_bar_gapping_past_a_step_already_in_force_fills_at_its_low() -> None:
    candles = bars(FLAT, (104, 105, 103.5, 104.5))
    assert roi_scan(candles, {0: 0.03}) == (STEP, 103.5, kernels.ROI)


def test_an_entry_below_the_open_of_a_falling_entry_bar_cannot_exit_above_its_close() -> None:
    candles = bars((100, 102, 99, 99.8), (99.8, 101, 99.6, 100.8))
    level = 99.5 * 1.01
    assert roi_scan(candles, {0: 0.01}, entry=99.5) == (STEP, pytest.approx(level, rel=1e-12), kernels.ROI)
    assert roi_scan(candles, {0: 0.01}, entry=100.0) == (0, 101.0, kernels.ROI)  # entered at the open


def test_the_stop_wins_a_bar_that_reaches_both_it_and_roi() -> None:
    candles = bars((100, 102, 97, 100))
    assert roi_scan(candles, {0: 0.01}, stop_loss=0.02) == (0, 98.0, kernels.STOP_LOSS)


def test_roi_wins_a_bar_where_the_trailed_stop_is_reached() -> None:
    candles = bars((100, 101, 99.5, 100.5), (100.5, 104, 99.5, 99.6))
    assert roi_scan(candles, {0: 0.03}, stop_loss=0.02, trailing=True) == (STEP, 103.0, kernels.ROI)
    trailed = roi_scan(candles, None, stop_loss=0.02, trailing=True)
    assert trailed == (STEP, pytest.approx(104 * 0.98, rel=1e-12), kernels.STOP_LOSS)


def test_a_bar_reaching_the_stop_as_it_stands_exits_there_before_roi_or_a_trail() -> None:
    # freqtrade trails only while the stop is below the bar's low: this bar's low reaches the fixed stop
    # at 98, so its high moves nothing and the fixed stop wins the bar over ROI
    candles = bars((100, 103, 97.5, 102))
    assert roi_scan(candles, {0: 0.01}, stop_loss=0.02, trailing=True) == (0, 98.0, kernels.STOP_LOSS)


def test_short_roi_is_judged_at_the_low() -> None:
    candles = bars(FLAT, (100, 100.2, 98.5, 99))
    assert roi_scan(candles, {0: 0.01}, direction=-1.0) == (STEP, 99.0, kernels.ROI)


def test_fees_of_both_sides_raise_the_level_as_freqtrade_s_profit_ratio_counts_them() -> None:
    candles = bars((100, 101.1, 99.5, 101), (101, 101.5, 100.5, 101.2))
    exit_ns, price, reason = roi_scan(candles, {0: 0.01}, fees=(0.001, 0.001))
    assert (exit_ns, reason) == (STEP, kernels.ROI)
    assert price == pytest.approx(100 * 1.01 * 1.001 / 0.999, rel=1e-12)
    assert price * (1 - 0.001) / (100 * 1.001) - 1 == pytest.approx(0.01, abs=1e-12)  # calc_profit_ratio


def test_the_ratio_is_on_margin_so_leverage_divides_the_price_move() -> None:
    candles = bars((100, 100.9, 99.8, 100.5), (100.5, 101.3, 100.2, 101))
    assert roi_scan(candles, {0: 0.05}, leverage=5.0) == (STEP, 101.0, kernels.ROI)


def test_the_scale_multiplies_every_ratio_but_an_exit_step() -> None:
    candles = bars((100, 101.5, 99.8, 101))
    assert roi_scan(candles, {0: 0.02}, scale=0.5) == (0, 101.0, kernels.ROI)
    assert roi_scan(candles, {0: 0.02})[2] == kernels.END_OF_DATA
    falling = bars(FLAT, (100, 100.2, 99, 99.5), (99.4, 99.8, 98, 98.5))
    assert roi_scan(falling, {0: 0.5, 10: -1.0}, scale=2.0) == (2 * STEP, 99.4, kernels.ROI)


def test_the_exit_reason_is_named_roi() -> None:
    assert kernels.EXIT_REASON_NAMES[kernels.ROI] == "roi"
    assert math.isnan(kernel_record(RegimeParameters(1.0, 0.02, None, 0.0, 0.1))["risk_reward_ratio"])
