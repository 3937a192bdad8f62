"""One tuning pass: build the context of a training window, run the tuners, apply the safety rules.

A tune runs many passes (one per walk-forward fold, then the whole search window) and replays many
blocks; what they all read is computed once (:class:`TuneData`) and each window takes its part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.errors import InputError, PlaybookTunerError
from framework.features import MarketBars, build_features
from framework.market import Market
from framework.models import ModelReport, ModelStore, SavedModel
from framework.parallel import ordered_map
from framework.playbook import Playbook
from framework.regimes import REGIMES, RegimeLabels, label_trades
from framework.replay import ReplayInputs, prepare, select
from framework.safety import Refusal, SafeProposal, apply_safety, as_written
from framework.search import DataRef
from framework.strategy import Strategy, check_signals
from framework.trades import validate_signals
from framework.tuners.base import NoProposal, Proposal, ReplayHandle, Tuner, TuningContext

# An untaken signal has no logged exit: replayed, it runs until a level, max_hold or the data's end.
_UNTAKEN_EXIT_REASON = "stop_loss"


@dataclass(frozen=True)
class TuningPass:
    """What the tuners proposed for one training window, before and after the safety rules."""

    outcomes: tuple[Proposal | NoProposal, ...]
    accepted: tuple[SafeProposal, ...]
    refused: tuple[Refusal, ...]
    saved_models: tuple[SavedModel, ...] = ()


@dataclass(frozen=True, eq=False)
class TuneData:
    """What every window of one tune reads, computed once (:func:`tune_data`): the regime labels of
    each symbol's bars, the per-bar market features, and the replay inputs of every trade and untaken
    signal some window holds. A window's replay is selected from them (:func:`framework.replay.select`)
    and replays exactly as one prepared for the window alone."""

    market: Market
    playbook: Playbook
    labels: RegimeLabels
    bars: MarketBars
    replay: ReplayInputs

    def replay_of(self, trades: pd.DataFrame, signals: pd.DataFrame | None) -> ReplayInputs:
        """The replay inputs of a window: its ``trades`` and, with ``signals``, its untaken signals."""
        return select(self.replay, with_untaken_signals(trades, signals, self.market, self.playbook, self.labels))


def tune_data(
    trades: pd.DataFrame,
    signals: pd.DataFrame | None,
    market: Market,
    playbook: Playbook,
    settings: Settings,
    labels: RegimeLabels | None = None,
) -> TuneData:
    """:class:`TuneData` for windows of ``trades`` (labelled) and of ``signals``: every trade a window
    may hold and every signal, prepared for the replay once. ``labels`` reuses the labels of the
    symbols already classified. An ``InputError`` when a trade id repeats among the trades and the
    untaken signals (``signal:<signal_id>``), which would make the windows' selections ambiguous."""
    labels = labels or RegimeLabels(market)
    replayed = with_untaken_signals(trades, signals, market, playbook, labels)
    repeated = replayed["trade_id"][replayed["trade_id"].duplicated()]
    if len(repeated):
        raise InputError.single(
            "trade log",
            f"trade_id {repeated.iloc[0]!r} appears twice among the trades and the untaken signals "
            "(whose ids are signal:<signal_id>); trade ids must be unique",
            field="trade_id",
        )
    inputs = prepare(replayed, market, settings.replay)
    return TuneData(market, playbook, labels, MarketBars(labels), inputs)


def build_context(
    trades: pd.DataFrame,
    market: Market,
    playbook: Playbook,
    settings: Settings,
    *,
    signals: pd.DataFrame | None = None,
    seed: int = 0,
    search_storage: str | None = None,
    data_ref: DataRef | None = None,
    shared: TuneData | None = None,
) -> TuningContext:
    """The context of a training window: regimes labelled, features built, the replay prepared.

    With ``signals``, the signals the bot did not take because their confidence was below the
    threshold join the replay (not taken under the current playbook), so a lower threshold can be judged.
    With ``shared`` (of ``market`` and ``playbook``; ``trades`` and ``signals`` among its own), the
    labels, market features and replay inputs come from it instead of being computed again.
    """
    if shared is None:
        labelled = label_trades(trades, market)
        features = build_features(labelled, market)
        inputs = prepare(with_untaken_signals(labelled, signals, market, playbook), market, settings.replay)
    else:
        if shared.market is not market or shared.playbook is not playbook:
            raise ValueError("the shared tune data were computed for another market or playbook")
        labelled = label_trades(trades, market, labels=shared.labels)
        features = build_features(labelled, market, bars=shared.bars)
        inputs = shared.replay_of(labelled, signals)
    handle = ReplayHandle(inputs, playbook, settings.replay)
    return TuningContext(
        trades=labelled,
        features=features,
        playbook=playbook,
        market=market,
        settings=settings,
        replay=handle,
        signals=signals,
        seed=seed,
        search_storage=search_storage,
        data_ref=data_ref,
    )


@dataclass(frozen=True)
class TunerRun:
    """One tuner's answer on one window (:func:`propose`): its outcomes and the models it fitted."""

    outcomes: tuple[Proposal | NoProposal, ...]
    models: dict[str, tuple[Any, ModelReport]] = field(default_factory=dict)


def propose(tuner: Tuner, context: TuningContext) -> TunerRun:
    """What ``tuner`` proposes for the context, with the models it fitted. A tuner that cannot work on
    the window proposes nothing, and says why."""
    try:
        outcomes = tuple(tuner.propose(context))
    except PlaybookTunerError as exc:
        # A tuner that cannot work on this window (too few trades for its own model, a limit its
        # search cannot meet) proposes nothing; the tune goes on with the others.
        why = f"could not run on this window: {exc}"
        return TunerRun(tuple(NoProposal(tuner.name, r, p, why) for p in tuner.parameters for r in REGIMES))
    return TunerRun(outcomes, tuner.fitted_models())


def run_tuners(
    tuners: Sequence[Tuner],
    context: TuningContext,
    model_store: ModelStore | None = None,
    *,
    safety: bool = True,
    progress: Callable[[str], None] = lambda step: None,
) -> TuningPass:
    """Every tuner's outcomes for the context, then the safety rules; ``progress`` is told each
    tuner's name as its answer is awaited. The tuners run at once as ``context.settings.parallel`` says
    (:mod:`framework.parallel`), with the same outcomes as one after the other; on process or Dask
    workers each proposes as a copy, so the learned state (``*_`` attributes) stays there.

    With ``model_store``, every model a tuner fitted is saved there as a new version. ``safety=False``
    passes proposals through unchanged (risk classes still set): for a hand-written playbook, whose
    values must be judged exactly as written.
    """
    parallel = context.settings.parallel.for_trades(len(context.trades))
    runs = ordered_map(_propose_in, context, list(tuners), parallel, before_each=lambda k: progress(tuners[k].name))
    return finish_pass(list(runs), context, model_store, safety=safety)


def _propose_in(context: TuningContext, tuner: Tuner) -> TunerRun:
    return propose(tuner, context)


def finish_pass(
    runs: Sequence[TunerRun], context: TuningContext, model_store: ModelStore | None = None, *, safety: bool = True
) -> TuningPass:
    """The pass of the tuners' answers on the context (in the tuners' order): each fitted model saved in
    ``model_store`` (when given), then the safety rules (``safety=False``: proposals as written)."""
    outcomes = [outcome for run in runs for outcome in run.outcomes]
    saved: list[SavedModel] = []
    if model_store is not None:
        saved = [model_store.save(name, model, report) for run in runs for name, (model, report) in run.models.items()]
    if not safety:
        passed = [as_written(o) for o in outcomes if isinstance(o, Proposal)]
        refusals = [Refusal(o.tuner, o.regime, o.parameter, o.reason) for o in outcomes if isinstance(o, NoProposal)]
        return TuningPass(tuple(outcomes), tuple(passed), tuple(refusals), tuple(saved))
    accepted, refused = apply_safety(outcomes, context.playbook, context.trades, context.settings)
    return TuningPass(tuple(outcomes), tuple(accepted), tuple(refused), tuple(saved))


def regenerate_signals(trades: pd.DataFrame, market: Market, strategies: Sequence[Strategy]) -> pd.DataFrame:
    """A signal log rebuilt by running ``strategies`` over the candles, for bots that keep none.

    Every entry a strategy signals on a symbol the trade log trades becomes a signal at the next bar's
    open (time and price), as the bot would act on it; it is ``taken`` when the log has a trade of that
    strategy and symbol entering then. Only the strategies named in the log's ``strategy`` column are
    run. The result is a validated signal log.
    """
    executed = set(zip(trades["symbol"], trades["strategy"], trades["entry_time"], strict=True))
    rows: list[pd.DataFrame] = []
    for strategy in strategies:
        for symbol in sorted(set(trades.loc[trades["strategy"] == strategy.name, "symbol"])):
            candles = market.for_symbol(symbol)
            frame = candles.frame
            signals = check_signals(strategy, frame, strategy.signals(frame))
            bars = np.flatnonzero(signals["entry"].to_numpy()[:-1] != 0)
            entry_times = frame.index[bars + 1]
            rows.append(
                pd.DataFrame(
                    {
                        "signal_id": [f"{symbol}:{strategy.name}:{t.isoformat()}" for t in entry_times],
                        "symbol": symbol,
                        "side": np.where(signals["entry"].to_numpy()[bars] > 0, "long", "short"),
                        "entry_time": entry_times,
                        "entry_price": frame["open"].to_numpy()[bars + 1],
                        "confidence": signals["confidence"].to_numpy()[bars],
                        "taken": [(symbol, strategy.name, t) in executed for t in entry_times],
                        "strategy": strategy.name,
                        "forecast_return": signals["forecast_return"].to_numpy()[bars],
                        "timeframe": candles.timeframe,
                    }
                )
            )
    if not rows:
        raise InputError.single("trade log", "no trade of the given strategies to regenerate signals for")
    return validate_signals(pd.concat(rows, ignore_index=True), source="regenerated signals").frame


def with_untaken_signals(
    trades: pd.DataFrame,
    signals: pd.DataFrame | None,
    market: Market,
    playbook: Playbook,
    labels: RegimeLabels | None = None,
) -> pd.DataFrame:
    """``trades`` plus, when there is a signal log, the signals left out for their confidence
    (:func:`untaken_signal_trades`): what a replay needs to judge a lower threshold."""
    if signals is None:
        return trades
    return pd.concat([trades, untaken_signal_trades(signals, market, playbook, labels)], ignore_index=True)


def untaken_signal_trades(
    signals: pd.DataFrame, market: Market, playbook: Playbook, labels: RegimeLabels | None = None
) -> pd.DataFrame:
    """Trade rows for the signals the bot left out for their confidence: replayed, they are not taken
    under ``playbook`` and are under a lower threshold. They exit by levels, max_hold or the data's end.
    ``labels`` reuses the bar labels already computed (see :func:`framework.regimes.label_trades`)."""
    untaken = signals[~signals["taken"]].copy()
    untaken["exit_time"] = untaken["entry_time"]
    untaken = label_trades(untaken.drop(columns=["trade_id"]), market, labels=labels)
    thresholds = (
        untaken["regime"]
        .map(lambda r: playbook.parameters_for(None if pd.isna(r) else r).confidence_threshold)
        .astype(float)
    )  # an empty map keeps the regimes' text dtype
    below = untaken[untaken["confidence"] < thresholds]
    return pd.DataFrame(
        {
            "trade_id": "signal:" + below["signal_id"].astype(str),
            "symbol": below["symbol"],
            "side": below["side"],
            "entry_time": below["entry_time"],
            "entry_price": below["entry_price"],
            "exit_time": below["entry_time"],
            "exit_price": below["entry_price"],
            "confidence": below["confidence"],
            "regime": below["regime"],
            "strategy": below["strategy"],
            "exit_reason": _UNTAKEN_EXIT_REASON,
        }
    )
