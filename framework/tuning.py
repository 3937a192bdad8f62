"""One tuning pass: build the context of a training window, run the tuners, apply the safety rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from framework.config import Settings
from framework.features import build_features
from framework.market import Market
from framework.models import ModelStore, SavedModel
from framework.playbook import Playbook
from framework.regimes import label_trades
from framework.replay import prepare
from framework.safety import Refusal, SafeProposal, apply_safety
from framework.search import DataRef
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
) -> TuningContext:
    """The context of a training window: regimes labelled, features built, the replay prepared.

    With ``signals``, the signals the bot did not take because their confidence was below the
    threshold join the replay (not taken under the current playbook), so a lower threshold can be judged.
    """
    labelled = label_trades(trades, market)
    features = build_features(labelled, market)
    replayed = labelled
    if signals is not None:
        replayed = pd.concat([labelled, _untaken_signals(signals, market, playbook)], ignore_index=True)
    handle = ReplayHandle(prepare(replayed, market, settings.replay), playbook, settings.replay)
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


def run_tuners(
    tuners: Sequence[Tuner], context: TuningContext, model_store: ModelStore | None = None
) -> TuningPass:
    """Every tuner's outcomes for the context, then the safety rules.

    With ``model_store``, every model a tuner fitted is saved there as a new version.
    """
    outcomes: list[Proposal | NoProposal] = []
    saved: list[SavedModel] = []
    for tuner in tuners:
        outcomes.extend(tuner.propose(context))
        if model_store is not None:
            for name, (model, report) in tuner.fitted_models().items():
                saved.append(model_store.save(name, model, report))
    accepted, refused = apply_safety(outcomes, context.playbook, context.trades, context.settings)
    return TuningPass(tuple(outcomes), tuple(accepted), tuple(refused), tuple(saved))


def _untaken_signals(signals: pd.DataFrame, market: Market, playbook: Playbook) -> pd.DataFrame:
    untaken = signals[~signals["taken"]].copy()
    untaken["exit_time"] = untaken["entry_time"]
    untaken = label_trades(untaken.drop(columns=["trade_id"]), market)
    thresholds = untaken["regime"].map(
        lambda r: playbook.parameters_for(None if pd.isna(r) else r).confidence_threshold
    )
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
