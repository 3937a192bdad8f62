"""Import a freqtrade trade history as a canonical trade log.

Two sources, as freqtrade users have them on disk:

- the live/dry-run database ``tradesv3.sqlite`` (``.sqlite``, ``.sqlite3``, ``.db``; table ``trades``);
- a backtest export ``.json`` (``{"strategy": {name: {"trades": [...]}}}``) or the ``.zip`` that
  freqtrade writes around it.

:func:`read_trade_log` takes either, or our own trade log, so every command's ``--trades`` reads a
freqtrade history as it is. Only closed trades are imported. Freqtrade records no confidence, so it is
either a constant or read out of ``enter_tag`` with a regular expression
(:class:`~framework.config.FreqtradeImportSettings`).
The result is validated by :func:`framework.trades.validate_trades`, strictly.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.config import FreqtradeImportSettings
from framework.errors import InputError, Problem
from framework.trades import SQLITE_SUFFIXES, LoadedLog, load_trades, read_table, validate_trades

# Our field <- freqtrade's field, first name found wins (older freqtrade versions say sell/buy).
_DATABASE_FIELDS = {
    "trade_id": ("id",),
    "symbol": ("pair",),
    "is_open": ("is_open",),
    "is_short": ("is_short",),
    "leverage": ("leverage",),
    "entry_time": ("open_date",),
    "exit_time": ("close_date",),
    "entry_price": ("open_rate",),
    "exit_price": ("close_rate",),
    "amount": ("amount",),
    "stake": ("stake_amount",),
    "stop_loss": ("stop_loss",),
    "pnl": ("close_profit_abs",),
    "exit_reason": ("exit_reason", "sell_reason"),
    "enter_tag": ("enter_tag", "buy_tag"),
    "strategy": ("strategy",),
    "timeframe": ("timeframe",),
    "fee_open": ("fee_open",),
    "fee_close": ("fee_close",),
    "min_rate": ("min_rate",),
    "max_rate": ("max_rate",),
}
_EXPORT_FIELDS = {
    **_DATABASE_FIELDS,
    "stop_loss": ("stop_loss_abs",),
    "pnl": ("profit_abs",),
}
_REQUIRED = ("symbol", "entry_time", "exit_time", "entry_price", "exit_price")
_DATABASE_REQUIRED = ("trade_id", *_REQUIRED, "is_open")

_EXIT_REASONS = {
    "roi": "roi",
    "stop_loss": "stop_loss",
    "stoploss": "stop_loss",
    "trailing_stop_loss": "stop_loss",
    "stoploss_on_exchange": "stop_loss",
    "liquidation": "liquidation",
}  # every other freqtrade exit (exit_signal, force_exit, custom exits ...) is a signal exit

_TIMEFRAME_UNITS = (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60), ("m", 1))


@dataclass(frozen=True)
class FreqtradeImport:
    """An imported freqtrade history: the validated trade log and what the user should know about it."""

    log: LoadedLog
    warnings: tuple[str, ...]


def read_trade_log(path: Path, settings: FreqtradeImportSettings, *, lenient: bool = False) -> FreqtradeImport:
    """The trade log at ``path`` as it is: freqtrade's backtest export (``.json``, ``.zip``) or database
    (a ``trades`` table with freqtrade's columns) through :func:`import_freqtrade`, else our own log
    (CSV, Parquet, SQLite) through :func:`~framework.trades.load_trades` (``lenient`` applies to that).
    Raises :class:`InputError`."""
    name = path.name.lower()
    if name.endswith((".json", ".zip")):
        return import_freqtrade(path, settings)
    if not name.endswith(SQLITE_SUFFIXES):
        return FreqtradeImport(log=load_trades(path, lenient=lenient), warnings=())
    table, source = read_table(path, table="trades"), str(path)
    freqtrade_columns = {_DATABASE_FIELDS[field][0] for field in _DATABASE_REQUIRED}
    if freqtrade_columns <= set(table.columns):
        return _imported(_from_database(table, source), source, settings, None)
    return FreqtradeImport(log=validate_trades(table, source=source, lenient=lenient), warnings=())


def import_freqtrade(path: Path, settings: FreqtradeImportSettings, *, strategy: str | None = None) -> FreqtradeImport:
    """Read a freqtrade database or backtest export and return its closed trades as a trade log.

    ``strategy`` keeps only that strategy's trades (an unknown name is an error that lists the
    strategies there are). Trade ids are the database ids, or ``<strategy>-<n>`` (n counting from 1 in
    the export's order) for backtest exports. Prices and stakes are in quote currency, pnl and fees
    too; stop_loss is the stop price; confidence is a fraction. Raises :class:`InputError`.
    """
    source = str(path)
    name = path.name.lower()
    if name.endswith(SQLITE_SUFFIXES):
        trades = _from_database(read_table(path, table="trades"), source)
    elif name.endswith(".json"):
        if not path.is_file():
            raise InputError.single(source, "file not found")
        trades = _from_export(_read_json(path.read_bytes(), source), source)
    elif name.endswith(".zip"):
        source, document = _read_zip(path)
        trades = _from_export(document, source)
    else:
        raise InputError.single(
            source,
            "unknown file type; expected a freqtrade database (.sqlite) or backtest result (.json, .zip)",
        )
    return _imported(trades, source, settings, strategy)


def _imported(
    trades: pd.DataFrame, source: str, settings: FreqtradeImportSettings, strategy: str | None
) -> FreqtradeImport:
    """Freqtrade's trades (renamed to our fields) as a validated trade log: closed trades only, of
    ``strategy`` when given, with their confidence, and what the user should know."""
    trades = _only_strategy(trades, strategy, source)
    warnings: list[str] = []
    is_open = trades["is_open"].fillna(False).astype(bool)
    if is_open.any():
        warnings.append(f"skipped {int(is_open.sum())} open trades (only closed trades are imported)")
        trades = trades[~is_open.to_numpy()].reset_index(drop=True)
    if trades.empty:
        raise InputError.single(source, "no closed trades to import")
    strategies = trades["strategy"].dropna().value_counts(sort=False)
    if strategy is None and len(strategies) > 1:
        counts = ", ".join(f"{label} ({count})" for label, count in strategies.items())
        warnings.append(f"imported the trades of {len(strategies)} strategies: {counts}; pass a strategy to keep one")

    confidence, confidence_warnings = _confidence(trades, settings, source)
    warnings.extend(confidence_warnings)
    frame = pd.DataFrame(
        {
            "trade_id": trades["trade_id"],
            "symbol": trades["symbol"],
            "side": np.where(trades["is_short"].fillna(False).astype(bool), "short", "long"),
            "entry_time": trades["entry_time"],
            "entry_price": trades["entry_price"],
            "exit_time": trades["exit_time"],
            "exit_price": trades["exit_price"],
            "confidence": confidence,
            "strategy": trades["strategy"],
            "leverage": trades["leverage"].where(trades["leverage"].notna(), 1.0),
            "stake": trades["stake"],
            "stop_loss": trades["stop_loss"],
            "pnl": trades["pnl"],
            "fees": _fees(trades),
            "fee_open": trades["fee_open"],
            "fee_close": trades["fee_close"],
            "exit_reason": _exit_reasons(trades["exit_reason"]),
            "timeframe": trades["timeframe"],
            "min_rate": trades["min_rate"],
            "max_rate": trades["max_rate"],
        }
    )
    return FreqtradeImport(log=validate_trades(frame, source=source), warnings=tuple(warnings))


# --- sources -----------------------------------------------------------------------------------


def _from_database(table: pd.DataFrame, source: str) -> pd.DataFrame:
    trades = _rename(table, _DATABASE_FIELDS, source, required=_DATABASE_REQUIRED)
    trades["timeframe"] = _timeframe_from_minutes(trades["timeframe"])
    return trades


def _read_json(content: bytes, source: str) -> Any:
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError.single(source, f"not valid JSON: {exc}") from None


def _read_zip(path: Path) -> tuple[str, Any]:
    """Find the backtest result inside a freqtrade backtest zip; return its name and its document."""
    source = str(path)
    if not path.is_file():
        raise InputError.single(source, "file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            candidates = [
                member
                for member in members
                if member.lower().endswith(".json") and not member.lower().endswith((".meta.json", "_config.json"))
            ]
            results = []
            for member in candidates:
                document = _read_json(archive.read(member), f"{source} [{member}]")
                if isinstance(document, dict) and isinstance(document.get("strategy"), dict):
                    results.append((member, document))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError.single(source, f"not a readable zip archive: {exc}") from None
    if len(results) != 1:
        found = ", ".join(members) if members else "none"
        what = "no backtest result" if not results else "more than one backtest result"
        raise InputError.single(source, f"{what} in this zip (members: {found})")
    member, document = results[0]
    return f"{source} [{member}]", document


def _from_export(document: Any, source: str) -> pd.DataFrame:
    strategies = document.get("strategy") if isinstance(document, dict) else None
    if not isinstance(strategies, dict) or not all(
        isinstance(result, dict) and isinstance(result.get("trades"), list) for result in strategies.values()
    ):
        raise InputError.single(
            source, 'not a freqtrade backtest result: expected {"strategy": {name: {"trades": [...]}}}'
        )
    parts = []
    for name, result in strategies.items():
        records = result["trades"]
        if not records:
            continue
        if not all(isinstance(record, dict) for record in records):
            raise InputError.single(source, f"strategy {name}: every trade must be a JSON object")
        part = _rename(pd.DataFrame.from_records(records), _EXPORT_FIELDS, source, required=_REQUIRED)
        part["trade_id"] = [f"{name}-{n}" for n in range(1, len(part) + 1)]
        part["strategy"] = name
        part["timeframe"] = result.get("timeframe")
        parts.append(part)
    if not parts:
        raise InputError.single(source, "the backtest result holds no trades")
    return pd.concat(parts, ignore_index=True)


def _rename(
    table: pd.DataFrame, fields: dict[str, tuple[str, ...]], source: str, *, required: tuple[str, ...]
) -> pd.DataFrame:
    """Freqtrade's columns under our names; absent optional ones become NA."""
    columns: dict[str, Any] = {}
    missing: list[str] = []
    for ours, theirs in fields.items():
        found = next((name for name in theirs if name in table.columns), None)
        if found is not None:
            columns[ours] = table[found].reset_index(drop=True)
        elif ours in required:
            missing.append(theirs[0])
        else:
            columns[ours] = pd.Series([np.nan] * len(table), dtype="object")
    if missing:
        found_columns = ", ".join(map(str, table.columns)) or "none"
        raise InputError(
            Problem(source, f"freqtrade column is missing (columns found: {found_columns})", field=name)
            for name in missing
        )
    return pd.DataFrame(columns)


def _only_strategy(trades: pd.DataFrame, strategy: str | None, source: str) -> pd.DataFrame:
    if strategy is None:
        return trades
    available = sorted(trades["strategy"].dropna().astype(str).unique())
    if strategy not in available:
        raise InputError.single(
            source, f"no trades of strategy '{strategy}' (strategies: {', '.join(available) or 'none'})"
        )
    return trades[(trades["strategy"] == strategy).to_numpy()].reset_index(drop=True)


# --- mappings ----------------------------------------------------------------------------------


def _timeframe_from_minutes(minutes: pd.Series) -> pd.Series:
    """Freqtrade's database stores the timeframe in minutes: 5 -> '5m', 60 -> '1h', 1440 -> '1d'."""
    values = pd.to_numeric(minutes, errors="coerce")
    timeframes = minutes.astype("str").where(values.isna())  # text that is not minutes: left to validation
    for unit, size in reversed(_TIMEFRAME_UNITS):
        whole = values.notna() & (values > 0) & (values % size == 0)
        counts = (values[whole] // size).astype("int64").astype("str")
        timeframes[whole] = counts + unit
    return timeframes


def _fees(trades: pd.DataFrame) -> pd.Series:
    """Fees paid in quote currency: entry notional * fee_open + exit notional * fee_close."""
    amount = pd.to_numeric(trades["amount"], errors="coerce")
    entry = amount * pd.to_numeric(trades["entry_price"], errors="coerce")
    exit_ = amount * pd.to_numeric(trades["exit_price"], errors="coerce")
    fee_open = pd.to_numeric(trades["fee_open"], errors="coerce")
    fee_close = pd.to_numeric(trades["fee_close"], errors="coerce")
    return entry * fee_open + exit_ * fee_close


def _exit_reasons(reasons: pd.Series) -> pd.Series:
    words = reasons.astype("str").str.strip().str.lower()
    return words.map(_EXIT_REASONS).fillna("signal").astype("str")


def _confidence(trades: pd.DataFrame, settings: FreqtradeImportSettings, source: str) -> tuple[pd.Series, list[str]]:
    """Each trade's confidence as a fraction, and warnings about where it came from."""
    count = len(trades)
    constant = pd.Series(np.full(count, settings.confidence))
    if not settings.confidence_tag_pattern:
        message = f"using constant {settings.confidence} for all {count} trades"
        return constant, [f"no confidence in freqtrade trades: {message}"]
    setting = "freqtrade.confidence_tag_pattern"
    try:
        pattern = re.compile(settings.confidence_tag_pattern)
    except re.error as exc:
        raise InputError.single("configuration", f"not a regular expression: {exc}", field=setting) from None
    if pattern.groups < 1:
        raise InputError.single(
            "configuration",
            "the pattern needs a group around the number, e.g. 'conf=([0-9.]+)'",
            field=setting,
        )
    tags = trades["enter_tag"].astype("str")
    read = tags.str.extract(pattern, expand=True)[0]
    values = pd.to_numeric(read, errors="coerce")
    bad = (read.notna() & values.isna()) | (values.notna() & ~values.between(0, 100))
    if bad.any():
        raise InputError(
            Problem(
                source,
                f"trade {trades['trade_id'].iloc[i]}: enter_tag '{tags.iloc[i]}' gives confidence "
                f"'{read.iloc[i]}', not a number in [0, 100]",
                field="enter_tag",
            )
            for i in np.flatnonzero(bad.to_numpy())
        )
    fractions = values.where(values <= 1, values / 100)
    warnings = []
    unmatched = int(fractions.isna().sum())
    if unmatched:
        warnings.append(
            f"{unmatched} of {count} trades have no confidence in enter_tag matching "
            f"'{settings.confidence_tag_pattern}': using constant {settings.confidence} for them"
        )
    return fractions.fillna(settings.confidence), warnings
