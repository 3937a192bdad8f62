"""OHLCV candles as freqtrade stores them: file names, loading, validation, gaps, writing.

freqtrade keeps candles in ``user_data/data/<exchange>/`` as ``<BASE>_<QUOTE>-<tf>.<ext>`` (spot) and,
in the ``futures/`` subfolder, ``<BASE>_<QUOTE>_<SETTLE>-<tf>-<candle_type>.<ext>``. Symbols are written
the ccxt way: ``ETH/BTC`` (spot), ``XRP/USDT:USDT`` (futures).

The package is three modules: :mod:`~framework.market.names` (timeframes and freqtrade's file names),
:mod:`~framework.market.candles` (one file: reading, validation, gaps, writing) and
:mod:`~framework.market.folder` (a data folder as a :class:`Market`).

A loaded frame is indexed by the bar's OPEN time (``date``, UTC, ns) and holds float64
``open high low close volume``. Funding-rate files keep the rate (a fraction per funding interval,
0.0001 = 0.01 %) in ``open``. Every problem in a file is an :class:`InputError` naming the file, the
1-based data row and the field; the row problems of one file come together in one error.
"""

from framework.market.candles import Candles, GapReport, gap_report, load_candles, price_ticks, write_candles
from framework.market.folder import Market, load_market
from framework.market.names import (
    CANDLE_TYPES,
    COLUMNS,
    EXTENSIONS,
    FUTURES_TYPES,
    PRICE_COLUMNS,
    TIMEFRAMES,
    TRADABLE_TYPES,
    candle_file_name,
    parse_candle_file_name,
    timedelta_to_timeframe,
    timeframe_to_timedelta,
)

__all__ = [
    "CANDLE_TYPES",
    "COLUMNS",
    "EXTENSIONS",
    "FUTURES_TYPES",
    "PRICE_COLUMNS",
    "TIMEFRAMES",
    "TRADABLE_TYPES",
    "Candles",
    "GapReport",
    "Market",
    "candle_file_name",
    "gap_report",
    "load_candles",
    "load_market",
    "parse_candle_file_name",
    "price_ticks",
    "timedelta_to_timeframe",
    "timeframe_to_timedelta",
    "write_candles",
]
