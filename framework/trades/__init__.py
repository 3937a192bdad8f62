"""The bot's trade memory: its trade log and its signal log, read and validated into typed frames.

Both logs come from CSV (``.csv``, ``.csv.gz``), Parquet (``.parquet``, ``.pq``) or SQLite (``.sqlite``,
``.sqlite3``, ``.db``; one table). Each log is described by one declarative table of column specs
(``TRADE_SPEC``, ``SIGNAL_SPEC``) and checked by one validator, so both follow the same rules:

- Column names are matched after stripping blanks and lower-casing; unknown columns are dropped and
  their names returned so the caller can report them.
- Times are datetimes, ISO-8601 strings (with an offset, or naive = UTC) or epoch milliseconds
  (numbers or numeric strings) and become ``datetime64[ns, UTC]``; times outside 1990-2199 are
  rejected, which catches epoch seconds passed as milliseconds (:mod:`framework.times`, the rule
  candles follow too).
- Confidence is a fraction in [0, 1]. A column in which any value exceeds 1 is read as percent (0-100)
  and divided by 100 as a whole; a value outside [0, 100] is an error.
- Prices (entry, exit, stop-loss, take-profit, min/max rate) are finite and > 0; returns are fractions.
- An empty cell in an optional column takes the column's default; in a required column it is an error.

The package is three modules: :mod:`~framework.trades.specs` (the column specs),
:mod:`~framework.trades.validation` (the one validator and its parsers) and
:mod:`~framework.trades.files` (reading CSV, Parquet and SQLite, writing logs back atomically).

Every problem names the file, the data row (1-based, a CSV header is not a row) and the field. Strict
mode raises all of them as one :class:`InputError`; lenient mode drops the bad rows and reports them.
"""

from framework.trades.files import SQLITE_SUFFIXES, load_signals, load_trades, read_table, write_log
from framework.trades.specs import EXIT_REASONS, SIDES, SIGNAL_COLUMNS, TRADE_COLUMNS
from framework.trades.validation import LoadedLog, validate_signals, validate_trades

__all__ = [
    "EXIT_REASONS",
    "SIDES",
    "SIGNAL_COLUMNS",
    "SQLITE_SUFFIXES",
    "TRADE_COLUMNS",
    "LoadedLog",
    "load_signals",
    "load_trades",
    "read_table",
    "validate_signals",
    "validate_trades",
    "write_log",
]
