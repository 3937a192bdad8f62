"""The first playbook of a freqtrade bot: its strategy's exit settings in the playbook's units.

Conversions: ``stop_loss = |stoploss| / leverage``; the trailing
distances and offset / leverage; ``minimal_roi`` copied as it is (freqtrade's units, profit ratio
after fees x leverage); ``risk_reward_ratio`` empty (freqtrade has no take-profit level, its profit
exits are ROI); ``position_size = stake_amount / dry_run_wallet`` (``unlimited``:
``tradable_balance_ratio / max_open_trades``); ``confidence_threshold`` 0 (freqtrade records no
confidence, every signal it took stays taken).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from framework.errors import InputError
from framework.freqtrade.strategy_settings import StrategySettings, roi_table
from framework.playbook.schema import DEFAULT_BOUNDS

_TRAILING_NOT_MODELLED = (
    "trailing_only_offset_is_reached = true is not modelled by the replay: it trails from the entry at "
    "stop_loss until the offset is passed, where freqtrade keeps the initial stop until then"
)


@dataclass(frozen=True)
class Sizing:
    """What sets the stake: amounts in the stake currency; ``max_open_trades`` None when unlimited."""

    stake_amount: float | str | None
    wallet: float | None
    max_open_trades: int | None
    tradable_balance_ratio: float = 0.99
    source: str = ""


@dataclass(frozen=True)
class InitialPlaybook:
    """The playbook's YAML text, its default block's values and what the user should know."""

    text: str
    values: dict[str, Any]
    notes: tuple[str, ...]


def log_leverage(leverages: list[float]) -> tuple[float, list[str]]:
    """The leverage of the logged trades (the most common; 1 with no trades) and a note when they differ."""
    if not leverages:
        return 1.0, ["no trades given: leverage 1"]
    counts = Counter(round(value, 9) for value in leverages)
    leverage = counts.most_common(1)[0][0]
    if len(counts) == 1:
        return leverage, []
    listed = ", ".join(f"{value:g} ({n})" for value, n in sorted(counts.items()))
    return leverage, [f"the trades use several leverages ({listed}): the playbook takes {leverage:g}, the most common"]


def initial_playbook(
    strategy: StrategySettings, *, leverage: float, sizing: Sizing, spot: bool = False
) -> InitialPlaybook:
    """The playbook that replays ``strategy`` at ``leverage``, sized by ``sizing``. Raises
    :class:`InputError` when a setting has no playbook value (a stoploss of -1 or beyond)."""
    notes: list[str] = list(strategy.warnings)
    source = f"strategy {strategy.name}"
    stoploss = strategy.get("stoploss")
    if stoploss is None or isinstance(stoploss, bool) or not isinstance(stoploss, int | float):
        raise InputError.single(source, "no stoploss found (give the strategy file or a backtest export)")
    stop_loss = abs(float(stoploss)) / leverage
    if not 0 < stop_loss < 1:
        raise InputError.single(
            source, f"stoploss {stoploss:g} at leverage {leverage:g} is a stop {stop_loss:g} of the price: "
            "a playbook's stop_loss must be in (0, 1)"
        )  # fmt: skip
    values: dict[str, Any] = {
        "leverage": leverage,
        "stop_loss": _rounded(stop_loss),
        "risk_reward_ratio": None,
        "confidence_threshold": 0.0,
        "position_size": _position_size(sizing, notes),
    }
    trailing = bool(strategy.get("trailing_stop", False))
    values["trailing_stop"] = trailing
    if trailing:
        positive = strategy.get("trailing_stop_positive")
        values["trailing_stop_positive"] = None if positive is None else _rounded(float(positive) / leverage)
        values["trailing_stop_positive_offset"] = _rounded(
            float(strategy.get("trailing_stop_positive_offset") or 0) / leverage
        )
        if strategy.get("trailing_only_offset_is_reached"):
            notes.append(_TRAILING_NOT_MODELLED)
    roi = strategy.get("minimal_roi")
    table = roi_table(roi, source) if roi is not None else {}
    if table:
        values["minimal_roi"] = table
    else:
        notes.append("no minimal_roi table: the playbook has no ROI exits")
    if spot:
        notes.append(
            "spot: leverage 1 is the only value; commands given this freqtrade config leave the leverage tuner out"
        )
    bounds = {
        name: (min(low, values[name]), max(high, values[name]))
        for name, (low, high) in DEFAULT_BOUNDS.items()
        if isinstance(values.get(name), float) and not low <= values[name] <= high
    }
    return InitialPlaybook(_yaml(strategy, values, bounds), values, tuple(notes))


def _position_size(sizing: Sizing, notes: list[str]) -> float:
    stake, wallet = sizing.stake_amount, sizing.wallet
    if stake == "unlimited":
        if sizing.max_open_trades:
            size = sizing.tradable_balance_ratio / sizing.max_open_trades
            notes.append(
                f"stake_amount unlimited: position_size = tradable_balance_ratio {sizing.tradable_balance_ratio:g} "
                f"/ max_open_trades {sizing.max_open_trades} = {size:g}"
            )
            return _rounded(size)
        notes.append("stake_amount unlimited with unlimited max_open_trades: position_size 1 assumed")
        return 1.0
    if isinstance(stake, int | float) and wallet:
        size = float(stake) / wallet
        if not 0 < size <= 1:
            raise InputError.single(
                sizing.source, f"stake_amount {stake:g} / dry_run_wallet {wallet:g} = {size:g} is no fraction of equity"
            )
        return _rounded(size)
    size = 1 / sizing.max_open_trades if sizing.max_open_trades else 0.1
    missing = "stake_amount" if stake is None else "dry_run_wallet"
    how = f"1 / max_open_trades {sizing.max_open_trades}" if sizing.max_open_trades else "a tenth of equity"
    notes.append(f"no {missing} known: position_size {size:g} assumed ({how}); set it in the playbook")
    return _rounded(size)


def _rounded(value: float) -> float:
    """``value`` without the noise of a division (0.001 / 0.01 is 0.1, not 0.09999999999999999)."""
    return float(f"{value:.12g}") if math.isfinite(value) else value


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value))


def _yaml(strategy: StrategySettings, values: dict[str, Any], bounds: dict[str, tuple[float, float]]) -> str:
    sources = sorted(set(strategy.sources.values()))
    lines = [
        f"# Written by playbook-tuner init-playbook from freqtrade strategy {strategy.name}",
        f"# from: {'; '.join(sources) or 'no source'}.",
        "# stop_loss and trailing are fractions of the price (freqtrade's value / leverage);",
        "# minimal_roi is freqtrade's table as it is.",
        "default:",
    ]
    for key, value in values.items():
        if key == "minimal_roi":
            lines.append("  minimal_roi:")
            lines.extend(f"    {minutes}: {ratio!r}" for minutes, ratio in value.items())
            continue
        comment = (
            "  # empty: no take-profit level; freqtrade's profit exits are minimal_roi"
            if key == "risk_reward_ratio"
            else ""
        )
        lines.append(f"  {key}: {_scalar(value)}".rstrip() + comment)
    if bounds:
        lines.append("bounds:  # widened where the strategy's value is outside the default bounds")
        lines.extend(f"  {name}: [{low!r}, {high!r}]" for name, (low, high) in bounds.items())
    return "\n".join(lines) + "\n"
