"""freqtrade's signal export (``backtesting --export signals``) as a signal log.

freqtrade stores, per strategy and pair, the candles its signals came from: ``<name>_signals.pkl``
(a candle before each trade's entry: the signals taken) and ``<name>_rejected.pkl`` (signals it could
not take, e.g. at ``max_open_trades``), inside the backtest ``.zip`` (recent versions) or beside the
export (older ones). Each candle row carries the strategy's columns, so a confidence column of the
strategy (``[freqtrade] confidence_column``) is read from it.

The files are joblib pickles, and unpickling runs code the file names: only files the user names are
read, never one found by search.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.config import FreqtradeImportSettings
from framework.errors import InputError
from framework.freqtrade.trades import FreqtradeImport, read_export
from framework.market import timeframe_to_timedelta
from framework.market.names import check_timeframe_argument
from framework.trades import load_signals, validate_signals

_TAKEN, _REJECTED = "_signals.pkl", "_rejected.pkl"


def read_signal_log(
    path: Path, settings: FreqtradeImportSettings, *, trades: pd.DataFrame | None = None, lenient: bool = False
) -> FreqtradeImport:
    """The signal log at ``path``: freqtrade's ``*_signals.pkl`` or the backtest ``.zip`` holding it,
    else our own log (:func:`~framework.trades.load_signals`; ``lenient`` applies to that).

    A taken signal enters one candle after its signal candle, at that candle's close; ``trades`` (the
    trade log) links it to its trade by symbol and entry time. Raises :class:`InputError`."""
    name = path.name.lower()
    document: dict[str, Any] | None
    if name.endswith(".zip"):
        source, document = read_export(path)
        pickles = _zip_pickles(path)
    elif name.endswith(_TAKEN):
        source, document = str(path), _export_beside(path)
        rejected = path.with_name(path.name[: -len(_TAKEN)] + _REJECTED)
        pickles = {_TAKEN: _load(path.read_bytes(), str(path))}
        if rejected.is_file():
            pickles[_REJECTED] = _load(rejected.read_bytes(), str(rejected))
    else:
        return FreqtradeImport(log=load_signals(path, lenient=lenient), warnings=())
    if _TAKEN not in pickles:
        raise InputError.single(source, "no signal export in it: run freqtrade backtesting with --export signals")
    timeframes = _timeframes(document, trades)
    parts, warnings = [], []
    for kind, taken in ((_TAKEN, True), (_REJECTED, False)):
        for strategy, pairs in _strategies(pickles.get(kind, {}), source).items():
            timeframe = timeframes.get(strategy)
            if timeframe is None:
                raise InputError.single(
                    source, f"strategy {strategy}: its timeframe is unknown (give the backtest export or the trades)"
                )
            parts.append(_rows(pairs, strategy, timeframe, taken, settings.confidence_column, source))
    frame = pd.concat([part for part in parts if not part.empty], ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        raise InputError.single(source, "the signal export holds no signals")
    confidence, note = _confidence(frame, settings, source)
    if note:
        warnings.append(note)
    frame["confidence"] = confidence
    frame["trade_id"] = _trade_ids(frame, trades)
    frame.insert(0, "signal_id", [f"{s}-{n}" for n, s in enumerate(frame["strategy"], start=1)])
    columns = ["signal_id", "symbol", "side", "entry_time", "entry_price", "confidence", "taken", "trade_id"]
    log = validate_signals(frame[[*columns, "strategy", "timeframe"]], source=source)
    return FreqtradeImport(log=log, warnings=tuple(warnings))


def _load(content: bytes, source: str) -> Any:
    import joblib

    try:
        return joblib.load(io.BytesIO(content))
    except Exception as exc:  # any unpickling failure: the file is not what it claims
        raise InputError.single(source, f"not a readable freqtrade signal pickle: {exc}") from None


def _zip_pickles(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return {
            kind: _load(archive.read(member), f"{path} [{member}]")
            for member in archive.namelist()
            for kind in (_TAKEN, _REJECTED)
            if member.endswith(kind)
        }


def _export_beside(path: Path) -> dict[str, Any] | None:
    stem = path.name[: -len(_TAKEN)]
    for suffix in (".json", ".zip"):
        export = path.with_name(stem + suffix)
        if export.is_file():
            return read_export(export)[1]
    return None


def _timeframes(document: dict[str, Any] | None, trades: pd.DataFrame | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if trades is not None and "timeframe" in trades:
        known = trades.dropna(subset=["timeframe"])
        found.update(zip(known["strategy"].astype(str), known["timeframe"].astype(str), strict=True))
    for strategy, section in (document or {}).get("strategy", {}).items():
        if isinstance(section, dict) and isinstance(section.get("timeframe"), str):
            found[strategy] = section["timeframe"]
    return found


def _strategies(data: Any, source: str) -> dict[str, dict[str, pd.DataFrame]]:
    if not isinstance(data, dict) or not all(
        isinstance(pairs, dict) and all(isinstance(f, pd.DataFrame) for f in pairs.values()) for pairs in data.values()
    ):
        raise InputError.single(source, "not freqtrade's signal export: expected {strategy: {pair: DataFrame}}")
    return data


def _rows(
    pairs: dict[str, pd.DataFrame], strategy: str, timeframe: str, taken: bool, column: str, source: str
) -> pd.DataFrame:
    """One signal per candle: it enters at the next candle's open, about this candle's close."""
    check_timeframe_argument(timeframe, source)
    step = timeframe_to_timedelta(timeframe)
    frames = []
    for pair, candles in pairs.items():
        if candles.empty:
            continue
        missing = [name for name in ("date", "close") if name not in candles]
        if missing:
            raise InputError.single(source, f"{strategy} {pair}: signal candles without {', '.join(missing)}")
        short = candles["enter_short"].fillna(0).astype(bool).to_numpy() if "enter_short" in candles else False
        frames.append(
            pd.DataFrame(
                {
                    "symbol": pair,
                    "side": np.where(short, "short", "long"),
                    "entry_time": (pd.to_datetime(candles["date"], utc=True) + step).to_numpy(),
                    "entry_price": candles["close"].to_numpy(),
                    "taken": taken,
                    "strategy": strategy,
                    "timeframe": timeframe,
                    "strategy_confidence": candles[column].to_numpy() if column in candles else np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _confidence(frame: pd.DataFrame, settings: FreqtradeImportSettings, source: str) -> tuple[pd.Series, str]:
    """The strategy's confidence column as a fraction (0-100 read as percent), else the constant."""
    column = settings.confidence_column
    values = pd.to_numeric(frame["strategy_confidence"], errors="coerce")
    if values.isna().all():
        return (
            pd.Series(np.full(len(frame), settings.confidence)),
            f"no '{column}' column in the signal candles: using constant {settings.confidence} for all "
            f"{len(frame)} signals (set [freqtrade] confidence_column to the strategy's column)",
        )
    bad = values.notna() & ~values.between(0, 100)
    if bad.any():
        raise InputError.single(source, f"column '{column}' holds values outside [0, 100], e.g. {values[bad].iloc[0]}")
    fractions = values.where(values <= 1, values / 100)
    missing = int(fractions.isna().sum())
    note = (
        f"{missing} of {len(frame)} signals have no '{column}': using constant {settings.confidence}" if missing else ""
    )
    return fractions.fillna(settings.confidence), note


def _trade_ids(frame: pd.DataFrame, trades: pd.DataFrame | None) -> pd.Series:
    """The taken signals' trades, by symbol and entry time (NA without a trade log or a match)."""
    ids = pd.Series(pd.NA, index=frame.index, dtype="object")
    if trades is None or trades.empty:
        return ids
    keys = dict(zip(zip(trades["symbol"], trades["entry_time"], strict=True), trades["trade_id"], strict=True))
    matched = [keys.get((symbol, time)) for symbol, time in zip(frame["symbol"], frame["entry_time"], strict=True)]
    return ids.where(~frame["taken"].to_numpy(), pd.Series(matched, index=frame.index, dtype="object"))
