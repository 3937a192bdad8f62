"""A freqtrade data folder (or one candle file) as a :class:`Market`: tradable candles and funding
rates by symbol, one timeframe each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from framework.errors import InputError
from framework.market.candles import Candles, load_candles
from framework.market.names import TIMEFRAMES, TRADABLE_TYPES, check_timeframe_argument, parse_candle_file_name


@dataclass(frozen=True, eq=False)
class Market:
    """Candles of several symbols, as :func:`load_market` found them in a folder."""

    candles: dict[str, Candles]
    """Tradable candles (spot or futures) by symbol, one timeframe per symbol."""
    funding: dict[str, Candles]
    """Funding-rate series by symbol; the rate per interval (fraction) is in column ``open``."""
    source: Path
    skipped: tuple[Path, ...] = ()
    """Files in the folder whose names are not freqtrade candle names; they were not read."""

    def symbols(self) -> list[str]:
        """Symbols with tradable candles, sorted."""
        return sorted(self.candles)

    def for_symbol(self, symbol: str) -> Candles:
        """Tradable candles of ``symbol``; ``InputError`` naming the symbol, the source and what exists."""
        try:
            return self.candles[symbol]
        except KeyError:
            known = ", ".join(self.symbols()) or "none"
            raise InputError.single(
                str(self.source),
                f"no candles for symbol {symbol!r}; candles exist for: {known}",
                field="symbol",
            ) from None


def load_market(path: Path, *, timeframe: str | None = None) -> Market:
    """Load the candles of a freqtrade data folder (``user_data/data/<exchange>``) or of one spot or
    futures candle file.

    A folder is read with its ``futures/`` subfolder, neither recursively. Spot and futures candles
    are tradable and go to ``candles``; ``funding_rate`` files go to ``funding``; mark, index and
    premiumIndex candles are not loaded (replay trades the traded price). When a symbol has several
    timeframes, the one asked for is taken, or without ``timeframe`` the finest (replay needs the
    finest price path). Funding always takes the finest funding file. Files whose names are not
    freqtrade candle names are not read and are listed in ``Market.skipped``. A folder without
    tradable candles, or two files holding the same symbol, type and timeframe, is an ``InputError``.
    """
    path = Path(path)
    check_timeframe_argument(timeframe, str(path))
    if path.is_file():
        return _market_from_file(path, timeframe)
    if not path.is_dir():
        raise InputError.single(str(path), "no such file or folder")

    files = sorted(p for folder in (path, path / "futures") if folder.is_dir() for p in folder.iterdir())
    named: dict[tuple[str, str, str], Path] = {}
    skipped: list[Path] = []
    for file in files:
        if not file.is_file():
            continue
        parsed = parse_candle_file_name(file.name)
        if parsed is None:
            skipped.append(file)
            continue
        if parsed in named:
            raise InputError.single(
                str(file),
                f"holds the same candles as {named[parsed]} ({parsed[0]} {parsed[1]} {parsed[2]}); keep one of the two",
            )
        named[parsed] = file

    tradable = _pick_finest(
        (key, file)
        for key, file in named.items()
        if key[2] in TRADABLE_TYPES and (timeframe is None or key[1] == timeframe)
    )
    funding = _pick_finest((key, file) for key, file in named.items() if key[2] == "funding_rate")
    if not tradable:
        found = ", ".join(sorted(f"{s} {tf} {ct}" for s, tf, ct in named)) or "no candle files"
        wanted = f" at timeframe {timeframe}" if timeframe else ""
        raise InputError.single(
            str(path),
            f"no spot or futures candles{wanted} in this folder or its futures/ subfolder (found: {found})",
        )
    return Market(
        candles={symbol: load_candles(file) for symbol, file in tradable.items()},
        funding={symbol: load_candles(file) for symbol, file in funding.items()},
        source=path,
        skipped=tuple(skipped),
    )


def _market_from_file(path: Path, timeframe: str | None) -> Market:
    candles = load_candles(path, timeframe=timeframe)
    if candles.candle_type not in TRADABLE_TYPES:
        raise InputError.single(
            str(path),
            f"{candles.candle_type} candles are not tradable; give spot or futures candles "
            "(or the folder that holds them with their funding rates)",
        )
    return Market(candles={candles.symbol: candles}, funding={}, source=path)


def _pick_finest(entries: Iterable[tuple[tuple[str, str, str], Path]]) -> dict[str, Path]:
    """Per symbol, the file with the shortest timeframe."""
    best: dict[str, tuple[pd.Timedelta, Path]] = {}
    for (symbol, tf, _), file in entries:
        length = TIMEFRAMES[tf]
        if symbol not in best or length < best[symbol][0]:
            best[symbol] = (length, file)
    return {symbol: file for symbol, (_, file) in sorted(best.items())}
