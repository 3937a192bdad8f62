"""The example strategy's signals without the playbook: freqtrade's own stoploss, trailing and ROI,
set from the config (``stoploss``, ``trailing_stop*``, ``minimal_roi``), as the reference the mixin
must reproduce."""

from freqtrade.strategy import IStrategy

from strategies.freqtrade_example import Strategy as Example


class Plain(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = Example.timeframe
    startup_candle_count = Example.startup_candle_count
    stoploss = -0.05
    minimal_roi = {"0": 10.0}  # noqa: RUF012 (freqtrade's attribute; the config sets it)
    populate_indicators = Example.populate_indicators
    populate_entry_trend = Example.populate_entry_trend
    populate_exit_trend = Example.populate_exit_trend
