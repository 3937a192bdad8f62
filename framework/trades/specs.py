"""The two logs as declarative column specs: each column's kind, whether it is required, its default
and bounds, and the rules between columns. :mod:`framework.trades.validation` reads every log by them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SIDES = ("long", "short")
EXIT_REASONS = ("stop_loss", "take_profit", "roi", "liquidation", "signal", "time", "other")

EXIT_REASON_SYNONYMS = {
    **{name: name for name in EXIT_REASONS},
    "sl": "stop_loss",
    "stoploss": "stop_loss",
    "trailing_stop_loss": "stop_loss",
    "stoploss_on_exchange": "stop_loss",
    "tp": "take_profit",
    "exit_signal": "signal",
    "sell_signal": "signal",
    "timeout": "time",
    "max_hold": "time",
}

SYMBOL_PATTERN = r"[A-Z0-9]+/[A-Z0-9]+(?::[A-Z0-9]+)?"
TIMEFRAME_PATTERN = r"[1-9][0-9]*[smhdwM]"
FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

Kind = Literal[
    "key", "text", "symbol", "side", "time", "number", "confidence", "regime", "exit_reason",
    "flag", "timeframe",
]  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of a log: how its raw values are parsed and what fills it when absent or empty."""

    name: str
    kind: Kind
    required: bool = False
    default: str | float | None = None  # None: NA for text, NaN for numbers
    minimum: float | None = None  # numbers: values must be > minimum (>= when minimum_inclusive)
    minimum_inclusive: bool = False


@dataclass(frozen=True)
class OrderRule:
    """``low <= high`` on every row where both are set; the problem is reported on ``high``."""

    low: str
    high: str
    message: str  # formatted with low= and high=


@dataclass(frozen=True)
class LogSpec:
    """A whole log: its columns in canonical order, its unique key, its sort time, its row rules."""

    what: str  # "trade log" / "signal log", for messages
    columns: tuple[Column, ...]
    key: str
    time: str
    order_rules: tuple[OrderRule, ...] = ()


TRADE_SPEC = LogSpec(
    what="trade log",
    key="trade_id",
    time="entry_time",
    columns=(
        Column("trade_id", "key", required=True),
        Column("symbol", "symbol", required=True),
        Column("side", "side", required=True),
        Column("entry_time", "time", required=True),
        Column("entry_price", "number", required=True, minimum=0.0),
        Column("exit_time", "time", required=True),
        Column("exit_price", "number", required=True, minimum=0.0),
        Column("confidence", "confidence", required=True),
        Column("regime", "regime"),
        Column("strategy", "text", default="default"),
        Column("leverage", "number", default=1.0, minimum=0.0),
        Column("stake", "number", minimum=0.0),
        Column("stop_loss", "number", minimum=0.0),
        Column("take_profit", "number", minimum=0.0),
        Column("pnl", "number"),
        Column("fees", "number", minimum=0.0, minimum_inclusive=True),
        Column("fee_open", "number", minimum=0.0, minimum_inclusive=True),
        Column("fee_close", "number", minimum=0.0, minimum_inclusive=True),
        Column("exit_reason", "exit_reason", default="other"),
        Column("forecast_return", "number"),
        Column("timeframe", "timeframe"),
        Column("min_rate", "number", minimum=0.0),
        Column("max_rate", "number", minimum=0.0),
    ),
    order_rules=(
        OrderRule("entry_time", "exit_time", "exit_time {high} is before entry_time {low}"),
        OrderRule("min_rate", "max_rate", "max_rate {high} is below min_rate {low}"),
    ),
)

SIGNAL_SPEC = LogSpec(
    what="signal log",
    key="signal_id",
    time="entry_time",
    columns=(
        Column("signal_id", "key", required=True),
        Column("symbol", "symbol", required=True),
        Column("side", "side", required=True),
        Column("entry_time", "time", required=True),
        Column("entry_price", "number", required=True, minimum=0.0),
        Column("confidence", "confidence", required=True),
        Column("taken", "flag", required=True),
        Column("trade_id", "text"),
        Column("regime", "regime"),
        Column("strategy", "text", default="default"),
        Column("forecast_return", "number"),
        Column("timeframe", "timeframe"),
    ),
)

TRADE_COLUMNS: tuple[str, ...] = tuple(c.name for c in TRADE_SPEC.columns)
SIGNAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in SIGNAL_SPEC.columns)
