"""The embedded sample: a synthetic market, a bot that trades it with real strategies, and its logs.

The market switches between four hidden regimes (a Markov chain) with GARCH(1,1) volatility
clustering and Student-t shocks. With ``structure=True`` the regimes carry an edge a tuner can find:
a drift in the trending regimes (momentum pays, the more so the stronger the trend, which is what its
confidence measures) and a pull back to a level in the ranging regime. The volatile regime has no
drift and three times the volatility: large moves there make confident signals with no edge behind
them. With ``structure=False`` the same generator runs with no drift and no pull, so nothing true can
be learned from it and every apparent edge is noise.

The bot runs the built-in ``momentum`` and ``mean_reversion`` strategies, one position per symbol and
strategy at a time, on the parameters of ``SAMPLE_PLAYBOOK`` for the regime it classifies at entry
(causally). Its exits are found by the replay kernel, so replaying the sample's trade log under its
own playbook gives back the logged exits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from framework.config import ReplaySettings
from framework.jit import njit
from framework.market import Market, load_market, write_candles
from framework.playbook import Playbook, kernel_record, parse_playbook
from framework.regimes import REGIMES, classify, regime_at
from framework.replay import kernels, prepare, replay_candidates
from framework.strategy import Strategy, check_signals, load_strategy
from framework.trades import validate_signals, validate_trades, write_log
from framework.user_cache import EMBEDDED_SAMPLE_SEED, embedded_sample_directory

SAMPLE_START = pd.Timestamp("2026-01-01", tz="UTC")
SAMPLE_TIMEFRAME = "5m"
SAMPLE_STRATEGIES = ("momentum", "mean_reversion")
EMBEDDED_SAMPLE_DAYS = 120
"""Length of the sample commands use when given no data: enough days for the gate to judge."""
SYMBOL_NAMES = ("ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL")

SAMPLE_PLAYBOOK = """\
# The sample bot's playbook, as it ran while the sample trade log was recorded.
# Parameters are fractions: stop_loss 0.02 = 2 % of the entry price.
default:
  leverage: 2.0
  stop_loss: 0.02
  risk_reward_ratio: 2.0
  confidence_threshold: 0.5
  position_size: 0.1          # fraction of equity committed as margin per trade
  max_hold: 48h
regimes:
  trending_up:
    confidence_threshold: 0.3 # low: weak-trend entries are let through
  trending_down:
    confidence_threshold: 0.3
  ranging:
    risk_reward_ratio: 3.0    # far target for a market that mean-reverts
  volatile:
    leverage: 3.0             # high leverage where nothing pays
strategy_weights:
  momentum: 1.0
  mean_reversion: 1.0
bounds:
  leverage: [1, 10]
  stop_loss: [0.005, 0.1]
  risk_reward_ratio: [0.5, 6]
  confidence_threshold: [0, 1]
  position_size: [0.01, 0.5]
"""


@dataclass(frozen=True)
class RegimeDynamics:
    """Per-bar dynamics of one hidden regime (fractions of price per bar)."""

    drift_per_sigma: float  # drift as a multiple of the bar's volatility
    pull: float  # mean-reversion speed towards the level set when the regime began
    volatility_multiplier: float


# Order follows REGIMES: trending_up, trending_down, ranging, volatile.
PLANTED_DYNAMICS = (
    RegimeDynamics(drift_per_sigma=0.12, pull=0.0, volatility_multiplier=0.8),
    RegimeDynamics(drift_per_sigma=-0.12, pull=0.0, volatility_multiplier=0.8),
    RegimeDynamics(drift_per_sigma=0.0, pull=0.05, volatility_multiplier=0.8),
    RegimeDynamics(drift_per_sigma=0.0, pull=0.0, volatility_multiplier=3.0),
)
BASE_VOLATILITY = 0.002  # per 5-minute bar
MEAN_REGIME_BARS = 432  # 1.5 days of 5-minute bars
SUBSTEPS = 6  # intrabar path steps that make high and low

# Structure a sound tuner should find in a sample with structure; tests/test_sample.py checks that the
# trade logs really show it, over several seeds. (The classifier sees the hidden regimes only in part,
# so these are stated for the regimes the bot labels, not the hidden ones.)
PLANTED_DIRECTIONS = {
    "trending_up": {"confidence_threshold": "up", "leverage": "up"},
    "trending_down": {"confidence_threshold": "up", "leverage": "up"},
    "strategy_weights": {"momentum": "up", "mean_reversion": "down"},
}


@dataclass(frozen=True)
class SampleSet:
    """Paths of a written sample."""

    directory: Path
    prices: Path
    trades: Path
    signals: Path
    playbook: Path
    truth: Path


def write_sample(
    directory: Path, *, seed: int = 7, symbols: int = 3, days: int = 60, structure: bool = True
) -> SampleSet:
    """Generate the sample and write it under ``directory`` (created if missing).

    Layout: ``prices/<SYMBOL>_USDT-5m.feather`` (freqtrade's), ``trades.csv``, ``signals.csv``,
    ``playbook.yaml`` and ``truth.json`` (the hidden regimes' shares and the planted structure).
    Deterministic per ``(seed, symbols, days, structure)``.
    """
    if not 1 <= symbols <= 50:
        raise ValueError("symbols must be between 1 and 50")
    if days < 3:
        raise ValueError("days must be at least 3")
    directory.mkdir(parents=True, exist_ok=True)
    prices_dir = directory / "prices"
    prices_dir.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    bars = days * 288
    hidden_share: dict[str, dict[str, float]] = {}
    for symbol in _symbol_names(symbols):
        candles, hidden = generate_candles(rng, bars, structure=structure)
        write_candles(candles, prices_dir, symbol, SAMPLE_TIMEFRAME)
        counts = np.bincount(hidden, minlength=len(REGIMES)) / bars
        hidden_share[symbol] = {regime: round(float(c), 4) for regime, c in zip(REGIMES, counts, strict=True)}

    playbook = parse_playbook(SAMPLE_PLAYBOOK, source="sample playbook")
    market = load_market(prices_dir)
    trades, signals = run_bot(market, playbook, ReplaySettings())
    paths = _sample_paths(directory)
    write_log(validate_trades(trades, source="sample trades").frame, paths.trades)
    write_log(validate_signals(signals, source="sample signals").frame, paths.signals)
    paths.playbook.write_text(playbook.text, encoding="utf-8")
    truth = {
        "seed": seed,
        "structure": structure,
        "dynamics": {regime: asdict(d) for regime, d in zip(REGIMES, PLANTED_DYNAMICS, strict=True)}
        if structure
        else "no drift, no pull; volatility regimes only",
        "hidden_regime_share": hidden_share,
        "planted_directions": PLANTED_DIRECTIONS if structure else {},
    }
    paths.truth.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return paths


def sample_is_cached(seed: int = EMBEDDED_SAMPLE_SEED) -> bool:
    """Whether :func:`cached_sample` finds every file of the sample already written."""
    paths = _sample_paths(embedded_sample_directory(seed))
    return all(p.exists() for p in (paths.trades, paths.signals, paths.playbook, paths.truth))


def cached_sample(seed: int = EMBEDDED_SAMPLE_SEED) -> SampleSet:
    """The embedded sample (``EMBEDDED_SAMPLE_DAYS`` days), written on first use into the cache
    folder (:func:`framework.user_cache.embedded_sample_directory`) and reused after; a sample missing
    a file is written anew."""
    paths = _sample_paths(embedded_sample_directory(seed))
    if sample_is_cached(seed):
        return paths
    return write_sample(paths.directory, seed=seed, days=EMBEDDED_SAMPLE_DAYS)


def generate_candles(
    rng: np.random.Generator, bars: int, *, structure: bool, timeframe: str = SAMPLE_TIMEFRAME
) -> tuple[pd.DataFrame, np.ndarray]:
    """One symbol's candles of ``timeframe`` (the dynamics are per bar, whatever its length) and the
    hidden regime index (into REGIMES) of every bar."""
    dynamics = PLANTED_DYNAMICS
    drift = np.array([d.drift_per_sigma if structure else 0.0 for d in dynamics])
    pull = np.array([d.pull if structure else 0.0 for d in dynamics])
    vol_mult = np.array([d.volatility_multiplier for d in dynamics])
    hidden = _regime_path(rng, bars)
    shocks = rng.standard_t(df=4, size=(bars, SUBSTEPS)) / np.sqrt(2.0)  # t(4) has variance 2
    start_price = float(rng.uniform(20.0, 200.0))
    opens, highs, lows, closes = _simulate_prices(hidden, shocks, drift, pull, vol_mult, BASE_VOLATILITY, start_price)
    index = pd.date_range(SAMPLE_START, periods=bars, freq=pd.Timedelta(timeframe), name="date", unit="ns")
    volume = rng.lognormal(mean=8.0, sigma=0.5, size=bars)
    frame = pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes, "volume": volume}, index=index)
    return frame, hidden


def run_bot(market: Market, playbook: Playbook, settings: ReplaySettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trade every symbol of ``market`` with the sample strategies under ``playbook``.

    Returns the trade log and the signal log as raw frames (validated by the caller). Trades still
    open when the data ends are not in the log, as a bot's log holds closed trades only.
    """
    trade_rows: list[dict[str, object]] = []
    signal_rows: list[dict[str, object]] = []
    for symbol in market.symbols():
        candles = market.for_symbol(symbol)
        labels = classify(candles.frame)
        for name in SAMPLE_STRATEGIES:
            strategy = load_strategy(name)
            _trade_symbol(candles.frame, symbol, strategy, labels, playbook, settings, trade_rows, signal_rows)
    trades = pd.DataFrame(trade_rows).sort_values(["entry_time", "trade_id"], ignore_index=True)
    # Stakes compound on the equity realised before each entry: the replay's portfolio computes them.
    sized = replay_candidates(prepare(trades, market, settings), [playbook], settings, per_trade=True).trades(0)
    ratio = trades["exit_price"] / trades["entry_price"]
    trades = trades.assign(
        stake=sized["margin"].to_numpy(),
        pnl=sized["pnl"].to_numpy(),
        fees=sized["margin"].to_numpy() * trades["leverage"] * settings.fee * (1.0 + ratio),
    )
    return trades, pd.DataFrame(signal_rows)


def _trade_symbol(
    frame: pd.DataFrame,
    symbol: str,
    strategy: Strategy,
    labels: pd.Series,
    playbook: Playbook,
    settings: ReplaySettings,
    trade_rows: list[dict[str, object]],
    signal_rows: list[dict[str, object]],
) -> None:
    signals = check_signals(strategy, frame, strategy.signals(frame))
    times = frame.index.as_unit("ns").asi8
    step = int(pd.Timedelta(SAMPLE_TIMEFRAME).value)
    opens, highs, lows, closes = (frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close"))
    entries = signals["entry"].to_numpy()
    exit_flags = {1: signals["exit_long"].to_numpy(bool), -1: signals["exit_short"].to_numpy(bool)}
    bars = kernels.Bars(times, opens, closes, *kernels.build_trees(lows, highs))
    entry_times = pd.DatetimeIndex(times[:-1] + step, tz="UTC")
    known_regime = regime_at(labels, pd.Timedelta(SAMPLE_TIMEFRAME), entry_times)
    busy_until = np.iinfo(np.int64).min
    for i in np.flatnonzero(entries[:-1] != 0):
        entry_ns = times[i] + step
        if entry_ns <= busy_until:
            continue
        direction = int(entries[i])
        regime = None if pd.isna(known_regime[i]) else str(known_regime[i])
        params = playbook.parameters_for(regime)
        confidence = float(signals["confidence"].iat[i])
        taken = confidence >= params.confidence_threshold
        signal_id = f"{symbol.split('/')[0]}-{strategy.name}-{i}"
        trade_id = f"T-{signal_id}" if taken else None
        common = {
            "symbol": symbol,
            "side": "long" if direction > 0 else "short",
            "entry_time": pd.Timestamp(entry_ns, tz="UTC"),
            "entry_price": opens[i + 1],
            "confidence": confidence,
            "regime": regime,
            "strategy": strategy.name,
            "forecast_return": float(signals["forecast_return"].iat[i]),
            "timeframe": SAMPLE_TIMEFRAME,
        }
        signal_rows.append({"signal_id": signal_id, **common, "taken": taken, "trade_id": trade_id})
        if not taken:
            continue
        later_exits = np.flatnonzero(exit_flags[direction][i + 1 :])
        has_signal_exit = later_exits.size > 0
        signal_exit_bar = i + 1 + (later_exits[0] if has_signal_exit else 0)
        signal_exit_ns = times[signal_exit_bar] + step
        first_bar, bar_bound = kernels.trade_windows(
            times, np.zeros(1, np.int64), np.full(1, len(times)), np.full(1, step),
            np.full(1, entry_ns), np.full(1, signal_exit_ns), np.full(1, has_signal_exit),
        )  # fmt: skip
        path = kernels.TradePaths(
            first_bar, bar_bound, np.full(1, len(times) - 1), np.full(1, step), np.full(1, entry_ns),
            opens[i + 1 : i + 2], np.full(1, float(direction)), np.full(1, signal_exit_ns),
            closes[signal_exit_bar : signal_exit_bar + 1], np.full(1, has_signal_exit),
        )  # fmt: skip
        exit_ns, exit_price, reason = kernels.trade_exit(
            bars, path, 0, kernel_record(params), settings.maintenance_margin_rate, settings.fee, settings.fee
        )
        busy_until = exit_ns
        if reason == kernels.END_OF_DATA:
            continue
        held = (times >= entry_ns) & (times < max(exit_ns, entry_ns + 1))
        entry_price = opens[i + 1]
        trade_rows.append(
            {
                "trade_id": trade_id,
                **common,
                "exit_time": pd.Timestamp(exit_ns, tz="UTC"),
                "exit_price": exit_price,
                "exit_reason": kernels.EXIT_REASON_NAMES[reason],
                "leverage": params.leverage,
                "stop_loss": entry_price * (1 - direction * params.stop_loss),
                "take_profit": (
                    None
                    if params.risk_reward_ratio is None
                    else entry_price * (1 + direction * params.stop_loss * params.risk_reward_ratio)
                ),
                "min_rate": min(lows[held].min(initial=entry_price), exit_price),
                "max_rate": max(highs[held].max(initial=entry_price), exit_price),
            }
        )


def _sample_paths(directory: Path) -> SampleSet:
    return SampleSet(
        directory=directory,
        prices=directory / "prices",
        trades=directory / "trades.csv",
        signals=directory / "signals.csv",
        playbook=directory / "playbook.yaml",
        truth=directory / "truth.json",
    )


def _symbol_names(count: int) -> list[str]:
    names = []
    for k in range(count):
        round_, position = divmod(k, len(SYMBOL_NAMES))
        names.append(SYMBOL_NAMES[position] + (str(round_) if round_ else ""))
    return [f"{name}/USDT" for name in names]


def _regime_path(rng: np.random.Generator, bars: int) -> np.ndarray:
    switches = rng.random(bars) < 1.0 / MEAN_REGIME_BARS
    steps = rng.integers(1, len(REGIMES), size=bars)  # move to one of the other regimes
    path = np.empty(bars, dtype=np.int64)
    current = int(rng.integers(len(REGIMES)))
    for i in range(bars):
        if switches[i]:
            current = (current + steps[i]) % len(REGIMES)
        path[i] = current
    return path


@njit(cache=True)
def _simulate_prices(hidden, shocks, drift, pull, vol_mult, base_vol, start_price):
    bars, substeps = shocks.shape
    opens = np.empty(bars)
    highs = np.empty(bars)
    lows = np.empty(bars)
    closes = np.empty(bars)
    log_price = np.log(start_price)
    level = log_price
    variance = base_vol**2
    alpha, beta = 0.05, 0.93
    previous_regime = -1
    for i in range(bars):
        regime = hidden[i]
        if regime != previous_regime:
            level = log_price
            previous_regime = regime
        target = (base_vol * vol_mult[regime]) ** 2
        sigma = np.sqrt(variance)
        bar_open = np.exp(log_price)
        high = bar_open
        low = bar_open
        bar_return = 0.0
        for k in range(substeps):
            step = (
                drift[regime] * sigma / substeps
                - pull[regime] * (log_price - level) / substeps
                + sigma * shocks[i, k] / np.sqrt(substeps)
            )
            log_price += step
            bar_return += step
            price = np.exp(log_price)
            high = max(high, price)
            low = min(low, price)
        opens[i] = bar_open
        highs[i] = high
        lows[i] = low
        closes[i] = np.exp(log_price)
        variance = (1.0 - alpha - beta) * target + alpha * bar_return**2 + beta * variance
    return opens, highs, lows, closes
