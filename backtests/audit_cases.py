"""Scripted live periods on the sample market, for the post-apply audit's tests and its error rates.

A case is the sample bot's logs under its own playbook (version 1) up to a go-live time, then a new
version published at that time (by hand, or applied from a real tuning session) and the bot's trades
after it regenerated under that version with :func:`framework.sample.run_bot` on the same candles: the
trade log "as it grows" after a change. The store's clock is set to the go-live time, so the version's
``created_at`` says when it went live in the data's time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from framework.config import ReplaySettings, Settings
from framework.desk import TuningDesk
from framework.market import Market, load_market
from framework.pipeline import TuneFiles
from framework.playbook import Playbook, load_playbook, parse_playbook
from framework.sample import EMBEDDED_SAMPLE_DAYS, SampleSet, cached_sample, run_bot, write_sample
from framework.store import Store
from framework.trades import validate_signals, validate_trades, write_log
from framework.user_cache import EMBEDDED_SAMPLE_SEED

LIVE_DAYS = 30

MOMENTUM_CUT = {"momentum": 0.1}
"""A planted bad change on the structured sample: momentum's trades (the sample's edge) cut to a tenth."""


@dataclass(frozen=True)
class LiveCase:
    """A store whose latest version went live at ``live_from``, and the logs that grew after it."""

    files: TuneFiles
    market: Market
    before: Playbook
    after: Playbook
    live_from: datetime
    session_id: str | None = None

    def desk(self, settings: Settings | None = None, clock: Callable[[], datetime] | None = None) -> TuningDesk:
        return TuningDesk(
            self.files, settings or Settings(), lookback_days=EMBEDDED_SAMPLE_DAYS, clock=clock or (lambda: self.end)
        )

    @property
    def end(self) -> datetime:
        """The data's last candle: "now" for an audit of the case."""
        return max(self.market.for_symbol(s).frame.index[-1] for s in self.market.symbols()).to_pydatetime()

    def live_trades(self) -> pd.DataFrame:
        trades = pd.read_csv(self.files.trades)
        entry = pd.to_datetime(trades["entry_time"], utc=True)
        return validate_trades(trades[entry >= pd.Timestamp(self.live_from)], source="live trades").frame


def sample_for(directory: Path, seed: int, *, days: int, symbols: int = 3, structure: bool = True) -> SampleSet:
    """The embedded sample (cached) for its own seed and size, else a sample written under ``directory``."""
    if seed == EMBEDDED_SAMPLE_SEED and days == EMBEDDED_SAMPLE_DAYS and symbols == 3 and structure:
        return cached_sample()
    return write_sample(directory / "sample", seed=seed, symbols=symbols, days=days, structure=structure)


def with_weights(playbook: Playbook, weights: dict[str, float]) -> str:
    """``playbook``'s text with some strategy weights set."""
    text = playbook.text
    for strategy, weight in weights.items():
        old = f"  {strategy}: {playbook.strategy_weight(strategy)}"
        assert old in text, f"{strategy}'s weight is not written as {old!r}"
        text = text.replace(old, f"  {strategy}: {weight}")
    return text


def hand_change(
    directory: Path,
    change: Callable[[Playbook], str],
    *,
    seed: int = EMBEDDED_SAMPLE_SEED,
    days: int = EMBEDDED_SAMPLE_DAYS,
    live_days: float = LIVE_DAYS,
    symbols: int = 3,
    structure: bool = True,
    replay: ReplaySettings | None = None,
) -> LiveCase:
    """Version 2 = ``change(version 1)``, published by hand ``live_days`` before the data's end."""
    sample = sample_for(directory, seed, days=days, symbols=symbols, structure=structure)
    market = load_market(sample.prices)
    before = load_playbook(sample.playbook)
    live_from = _end(market) - pd.Timedelta(days=live_days)
    files = _files(directory, sample, before.text, live_from)
    after = parse_playbook(change(before), source="version 2")
    with Store(files.store_path, clock=lambda: live_from.to_pydatetime()) as store:
        store.publish_playbook(files.playbook, after.text, author="cli:planted", reason="planted change")
    _grow_logs(files, sample, market, after, live_from, replay or ReplaySettings())
    return LiveCase(files, market, before, after, live_from.to_pydatetime())


def applied_session(directory: Path, *, live_days: float = LIVE_DAYS) -> LiveCase:
    """Version 2 = a real tuning session on the embedded sample's trades before the go-live time, applied
    at that time through the desk; then the month after it traded under version 2."""
    sample = cached_sample()
    market = load_market(sample.prices)
    before = load_playbook(sample.playbook)
    live_from = _end(market) - pd.Timedelta(days=live_days)
    files = _files(directory, sample, before.text, live_from)
    at_go_live = live_from.to_pydatetime()
    desk = TuningDesk(files, Settings(), lookback_days=EMBEDDED_SAMPLE_DAYS, clock=lambda: at_go_live)
    outcome = desk.tune()
    assert outcome.recommendations, f"the tune validated nothing: {outcome.contents.headline}"
    applied = desk.apply(outcome.session.id, "cli:tester")
    assert applied.new_version is not None, applied.message
    after = load_playbook(files.playbook)
    _grow_logs(files, sample, market, after, live_from, ReplaySettings())
    return LiveCase(files, market, before, after, at_go_live, outcome.session.id)


def _end(market: Market) -> pd.Timestamp:
    return max(market.for_symbol(s).frame.index[-1] for s in market.symbols())


def _files(directory: Path, sample: SampleSet, playbook_text: str, live_from: pd.Timestamp) -> TuneFiles:
    """The bot's files as they stood at ``live_from``: the logs of the trades entered before it, and
    version 1 registered at the sample's start."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TuneFiles(
        trades=directory / "trades.csv",
        prices=sample.prices,
        playbook=directory / "playbook.yaml",
        signals=directory / "signals.csv",
    )
    files.playbook.write_text(playbook_text, encoding="utf-8")
    for source, target in ((sample.trades, files.trades), (sample.signals, files.signals)):
        log = pd.read_csv(source)
        entry = pd.to_datetime(log["entry_time"], utc=True)
        log[entry < live_from].to_csv(target, index=False)
    start = pd.to_datetime(pd.read_csv(sample.trades)["entry_time"], utc=True).min().to_pydatetime()
    with Store(files.store_path, clock=lambda: start) as store:
        store.register_live_playbook(files.playbook, author="bot")
    return files


def _grow_logs(
    files: TuneFiles,
    sample: SampleSet,
    market: Market,
    after: Playbook,
    live_from: pd.Timestamp,
    replay: ReplaySettings,
) -> None:
    """Append to the logs what the bot traded from ``live_from`` on under ``after``."""
    trades, signals = run_bot(market, after, replay)
    trades = trades[trades["entry_time"] >= live_from]
    signals = signals[signals["entry_time"] >= live_from]
    old_trades, old_signals = pd.read_csv(files.trades), pd.read_csv(files.signals)
    grown_trades = validate_trades(
        pd.concat([validate_trades(old_trades, source="log").frame, trades], ignore_index=True), source="grown log"
    ).frame
    grown_signals = validate_signals(
        pd.concat([validate_signals(old_signals, source="log").frame, signals], ignore_index=True), source="signals"
    ).frame
    write_log(grown_trades, files.trades)
    write_log(grown_signals, files.signals)
