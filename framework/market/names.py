"""freqtrade's timeframes and candle file names: ``<BASE>_<QUOTE>-<tf>.<ext>`` (spot) and
``<BASE>_<QUOTE>_<SETTLE>-<tf>-<candle_type>.<ext>`` (futures types), both ways."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from framework.errors import InputError

TIMEFRAMES: dict[str, pd.Timedelta] = {
    "1s": pd.Timedelta(seconds=1),
    "1m": pd.Timedelta(minutes=1),
    "3m": pd.Timedelta(minutes=3),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
    "2h": pd.Timedelta(hours=2),
    "4h": pd.Timedelta(hours=4),
    "6h": pd.Timedelta(hours=6),
    "8h": pd.Timedelta(hours=8),
    "12h": pd.Timedelta(hours=12),
    "1d": pd.Timedelta(days=1),
    "3d": pd.Timedelta(days=3),
    "1w": pd.Timedelta(weeks=1),
    # A calendar month, counted as 30 days the way ccxt and freqtrade count it.
    "1M": pd.Timedelta(days=30),
}
"""freqtrade's timeframe strings and their bar length."""

TRADABLE_TYPES: tuple[str, ...] = ("spot", "futures")
FUTURES_TYPES: tuple[str, ...] = ("futures", "mark", "index", "premiumIndex", "funding_rate")
CANDLE_TYPES: tuple[str, ...] = ("spot", *FUTURES_TYPES)
EXTENSIONS: tuple[str, ...] = ("feather", "parquet", "csv", "json", "json.gz")
"""The candle file formats freqtrade writes (``json.gz``: its ``jsongz`` format)."""
COLUMNS: tuple[str, ...] = ("date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")

_FILE_NAME = re.compile(
    r"^(?P<pair>.+)-(?P<tf>\d+[smhdwM])(?:-(?P<ctype>" + "|".join(FUTURES_TYPES) + r"))?"
    r"\.(?P<ext>" + "|".join(map(re.escape, EXTENSIONS)) + r")$"
)


def timeframe_to_timedelta(tf: str) -> pd.Timedelta:
    """Bar length of a freqtrade timeframe string ("5m" -> 5 minutes; "1M" -> 30 days).

    Raises ``ValueError`` (not ``InputError``: there is no file to name) listing the valid strings;
    the loaders check their ``timeframe`` argument with :func:`check_timeframe_argument` instead.
    """
    try:
        return TIMEFRAMES[tf]
    except KeyError:
        raise ValueError(f"unknown timeframe {tf!r}; use one of {', '.join(TIMEFRAMES)}") from None


def check_timeframe_argument(timeframe: str | None, source: str) -> None:
    """``InputError`` naming ``source`` and the field ``timeframe`` unless ``timeframe`` is None or a
    freqtrade timeframe."""
    if timeframe is not None:
        try:
            timeframe_to_timedelta(timeframe)
        except ValueError as exc:
            raise InputError.single(source, str(exc), field="timeframe") from None


def timedelta_to_timeframe(td: pd.Timedelta) -> str | None:
    """The freqtrade timeframe whose bar length is exactly ``td``, or None."""
    for name, length in TIMEFRAMES.items():
        if length == td:
            return name
    return None


def parse_candle_file_name(name: str) -> tuple[str, str, str] | None:
    """(symbol, timeframe, candle_type) from a freqtrade candle file name, or None if it is not one.

    ``ETH_BTC-5m.feather`` -> ("ETH/BTC", "5m", "spot");
    ``XRP_USDT_USDT-8h-funding_rate.feather`` -> ("XRP/USDT:USDT", "8h", "funding_rate").
    Spot names need exactly BASE_QUOTE, futures-type names BASE_QUOTE_SETTLE.
    """
    match = _FILE_NAME.match(name)
    if match is None or match["tf"] not in TIMEFRAMES:
        return None
    parts = match["pair"].split("_")
    candle_type = match["ctype"] or "spot"
    if any(not part for part in parts):
        return None
    if candle_type == "spot" and len(parts) == 2:
        symbol = f"{parts[0]}/{parts[1]}"
    elif candle_type != "spot" and len(parts) == 3:
        symbol = f"{parts[0]}/{parts[1]}:{parts[2]}"
    else:
        return None
    return symbol, match["tf"], candle_type


def extension_of(path: Path) -> str | None:
    """The candle format of ``path`` by its name (``.json.gz`` before ``.gz``), or None if unknown."""
    name = path.name.lower()
    known = sorted(EXTENSIONS, key=len, reverse=True)
    return next((ext for ext in known if name.endswith("." + ext)), None)


def candle_file_name(symbol: str, timeframe: str, candle_type: str = "spot", ext: str = "feather") -> str:
    """freqtrade's file name for these candles (``XRP/USDT:USDT``, 5m, futures ->
    ``XRP_USDT_USDT-5m-futures.feather``). ``ValueError`` on a symbol that does not fit the type."""
    timeframe_to_timedelta(timeframe)
    if candle_type not in CANDLE_TYPES:
        raise ValueError(f"unknown candle type {candle_type!r}; use one of {', '.join(CANDLE_TYPES)}")
    if ext not in EXTENSIONS:
        raise ValueError(f"unknown extension {ext!r}; use one of {', '.join(EXTENSIONS)}")
    pattern = r"[^/:_]+/[^/:_]+" if candle_type == "spot" else r"[^/:_]+/[^/:_]+:[^/:_]+"
    if not re.fullmatch(pattern, symbol):
        shape = "BASE/QUOTE" if candle_type == "spot" else "BASE/QUOTE:SETTLE"
        raise ValueError(f"symbol {symbol!r} does not look like {shape} (needed for {candle_type} candles)")
    pair = symbol.replace("/", "_").replace(":", "_")
    suffix = "" if candle_type == "spot" else f"-{candle_type}"
    return f"{pair}-{timeframe}{suffix}.{ext}"
