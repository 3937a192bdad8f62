"""Real ``freqtrade backtesting`` runs, offline, on the shared candles: the harness later fidelity
tests build on.

:func:`run_backtest` writes a freqtrade config into a folder of its own, runs freqtrade's backtesting
command in a subprocess (``python -m tests.freqtrade_harness``, see its ``__main__``: static markets, no
network), and returns the export (freqtrade's ``.zip``). :func:`export_trades` reads the trades of an
export as freqtrade wrote them; :func:`framework.freqtrade.read_trade_log` reads the same file as our
trade log. freqtrade runs in its own process so that its global state (logging, the strategy
resolver's module cache, ``LocalTrade``'s class-level trade lists) never leaks into pytest.

Defaults: exchange binance, spot, stake currency BTC, a wallet of 1 BTC, fee 0.1 % per side, the ten
``*_BTC-5m`` pairs, timeframe 5m, ``max_open_trades`` 3, unlimited stake (the strategy's
``custom_stake_amount`` decides). ``config_overrides`` is merged over this config key by key (nested
mappings merged too).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from tests.freqtrade_harness.__main__ import NETWORK_ATTEMPT
from tests.freqtrade_harness.markets import PAIRS

ROOT = Path(__file__).resolve().parents[2]
FREQTRADE_DATA = ROOT.parent / "shared" / "data" / "freqtrade"
UNREACHABLE_PROXY = "http://127.0.0.1:9"
"""Set as every proxy variable of the subprocess: a connection that slipped past the audit hook would fail."""


class BacktestFailed(RuntimeError):
    """freqtrade's backtesting exited with an error or tried to reach the network."""


def base_config(folder: Path, pairs: Sequence[str], playbook_path: Path | None) -> dict[str, Any]:
    """The harness's freqtrade config before ``config_overrides``."""
    config: dict[str, Any] = {
        "dry_run": True,
        "trading_mode": "spot",
        "stake_currency": "BTC",
        "stake_amount": "unlimited",
        "dry_run_wallet": 1.0,
        "tradable_balance_ratio": 1.0,
        "max_open_trades": 3,
        "timeframe": "5m",
        "fee": 0.001,
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": list(pairs), "enable_ws": False},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": False, "price_last_balance": 0.0},
        "exit_pricing": {"price_side": "same", "use_order_book": False},
        "dataformat_ohlcv": "feather",
        "user_data_dir": str(folder / "user_data"),
        "internals": {"process_throttle_secs": 5},
    }
    if playbook_path is not None:
        config["playbook_path"] = str(playbook_path)
    return config


def run_backtest(
    strategy_file: Path,
    *,
    folder: Path,
    playbook_path: Path | None = None,
    pairs: Sequence[str] = PAIRS,
    timerange: str | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    strategy_class: str = "Strategy",
    export: str = "trades",
) -> Path:
    """Run ``freqtrade backtesting`` with ``strategy_class`` of ``strategy_file``; return the export (.zip).

    ``folder`` (empty or new) receives the config, a user_data folder, freqtrade's log and the export.
    ``playbook_path`` is given to the strategy as the config key ``playbook_path`` (which
    :class:`framework.freqtrade_strategy.PlaybookStrategyMixin` reads before its class attribute).
    ``timerange`` is freqtrade's (``20180110-20180120``). ``export`` is ``trades`` or ``signals``
    (trades plus the signal candles). Raises :class:`BacktestFailed` with freqtrade's output when it
    fails or when it tried to reach the network.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_data").mkdir(exist_ok=True)
    results = folder / "backtest_results"
    results.mkdir(exist_ok=True)
    config = _merged(base_config(folder, pairs, playbook_path), config_overrides or {})
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    arguments = [
        "backtesting",
        "--config", str(config_file),
        "--datadir", str(FREQTRADE_DATA),
        "--strategy-path", str(Path(strategy_file).resolve().parent),
        "--strategy", strategy_class,
        "--export", export,
        "--backtest-directory", str(results),
        "--cache", "none",
        "--logfile", str(folder / "freqtrade.log"),
    ]  # fmt: skip
    if timerange:
        arguments += ["--timerange", timerange]
    completed = subprocess.run(
        [sys.executable, "-m", "tests.freqtrade_harness", *arguments],
        cwd=ROOT,
        env=_offline_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0 or NETWORK_ATTEMPT in output:
        raise BacktestFailed(f"freqtrade backtesting failed (exit {completed.returncode}):\n{output[-6000:]}")
    exports = sorted(results.glob("backtest-result-*.zip"))
    if len(exports) != 1:
        raise BacktestFailed(f"expected one export in {results}, found {[p.name for p in exports]}:\n{output[-3000:]}")
    return exports[0]


def export_trades(export: Path) -> pd.DataFrame:
    """The trades of a single-strategy export as freqtrade wrote them (dates as UTC Timestamps)."""
    strategy = _export_stats(export)["strategy"]
    if len(strategy) != 1:
        raise ValueError(f"{export} holds {len(strategy)} strategies; expected one")
    (stats,) = strategy.values()
    trades = pd.DataFrame(stats["trades"])
    for column in ("open_date", "close_date"):
        if column in trades:
            trades[column] = pd.to_datetime(trades[column], utc=True)
    return trades


def export_signals(export: Path) -> pd.DataFrame:
    """The entry signals an ``export="signals"`` run recorded: one row per signal candle that produced
    a trade (column ``pair`` added), with the strategy's columns at that candle (freqtrade's
    ``_signals.pkl``, a joblib dump of {strategy: {pair: frame}})."""
    with zipfile.ZipFile(export) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("_signals.pkl")]
        signals = joblib.load(io.BytesIO(archive.read(name)))
    frames = [frame.assign(pair=pair) for pairs in signals.values() for pair, frame in pairs.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _export_stats(export: Path) -> dict[str, Any]:
    with zipfile.ZipFile(export) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".json") and not n.endswith("_config.json")]
        stats: dict[str, Any] = json.loads(archive.read(name))
    return stats


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def _offline_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        environment[name] = UNREACHABLE_PROXY
    environment.pop("NO_PROXY", None)
    environment.pop("no_proxy", None)
    return environment
