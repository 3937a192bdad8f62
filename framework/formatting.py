"""Numbers, values and times as people read them: one way for the CLI, the HTML report and Telegram."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

PERCENT_METRICS = frozenset({"total_return", "max_drawdown", "win_rate", "exposure", "expectancy"})
"""Replay metrics that are fractions and read best as percentages."""
COUNT_METRICS = frozenset({"trades_taken", "liquidations"})
"""Replay metrics that are counts (no decimals)."""
MISSING = "–"
RISK_LEVELS = ("low", "medium", "high")
"""A change's risk class, least risky first."""
RISK_ICONS = {"low": "🟢", "medium": "🟡", "high": "🔴"}


def risk_text(risk: str) -> str:
    """A risk class as icon and word (the word for screens where the emoji does not render)."""
    return f"{RISK_ICONS.get(risk, '')} {risk} risk".strip()


def number_text(value: float | None, spec: str, suffix: str = "") -> str:
    """``value`` formatted with ``spec`` (and ``suffix``); a dash for None, NaN or infinity."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:{spec}}{suffix}"


def metric_text(name: str, value: float | None) -> str:
    """A replay metric: fractions as percent with two decimals, counts whole, the rest with three decimals."""
    if name in PERCENT_METRICS:
        return number_text(None if value is None else 100 * value, ".2f", " %")
    if name in COUNT_METRICS:
        return number_text(value, ".0f")
    return number_text(value, ".3f")


def p_value_text(value: float | None) -> str:
    """A p-value with three decimals, ``< 0.001`` below that."""
    if value is not None and 0 <= value < 0.001:
        return "< 0.001"
    return number_text(value, ".3f")


def value_text(value: float | str | None) -> str:
    """A playbook value: numbers in their shortest form, durations as written, ``none`` for no limit."""
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float | int) and not isinstance(value, bool) else str(value)


def change_text(current: float | str | None, proposed: float | str | None) -> str:
    """``current → proposed`` (a dash when neither is known)."""
    if current is None and proposed is None:
        return MISSING
    return f"{value_text(current)} → {value_text(proposed)}"


def utc_text(moment: datetime, *, zone: bool = True) -> str:
    """``YYYY-MM-DD HH:MM UTC``, without `` UTC`` when not ``zone`` (a table column headed UTC);
    naive times are taken as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if zone else "%Y-%m-%d %H:%M")


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """The gate's evidence for one change (a verdict's ``validation.evidence``) as lines people read:
    the test, the effect and its interval, the out-of-sample size, the holdout, the values each fold
    chose, and the deflation's N and V. An older session without evidence gives no lines."""
    if not evidence:
        return []
    low, high = (evidence.get("interval") or [None, None])[:2]
    lines = [
        f"test: {evidence.get('test', '?')}",
        f"effect {number_text(evidence.get('effect'), '+.4f')} per trade, 90 % interval "
        f"[{number_text(low, '+.4f')}, {number_text(high, '+.4f')}], {evidence.get('trades_compared', '?')} trades "
        f"over {evidence.get('out_of_sample_days', '?')} days out of sample; p {p_value_text(evidence.get('p_value'))} "
        f"after Holm's correction over {evidence.get('slots_tested', '?')} proposals "
        f"(raw {p_value_text(evidence.get('p_value_raw'))})",
    ]
    judged = evidence.get("judged_value")
    if judged is not None:
        lines.append(
            f"direction judged on {judged:g} (before the change cap); the capped step's own effect "
            f"{number_text(evidence.get('capped_effect'), '+.4f')}"
        )
    holdout = evidence.get("holdout_interval") or [None, None]
    lines.append(
        f"holdout: effect {number_text(evidence.get('holdout_effect'), '+.4f')} "
        f"[{number_text(holdout[0], '+.4f')}, {number_text(holdout[1], '+.4f')}]"
    )
    folds = evidence.get("fold_values") or []
    if folds:
        chosen = ", ".join("-" if value is None else f"{value:g}" for value in folds)
        lines.append(f"values the walk-forward folds chose: {chosen}")
    lines.append(
        f"DSR over N = {evidence.get('dsr_trials', '?')} out-of-sample series, "
        f"V = {number_text(evidence.get('dsr_trial_variance'), '.3g')}"
    )
    if evidence.get("vectorbt"):
        lines.append(vectorbt_text(evidence["vectorbt"]))
    return lines


def vectorbt_text(check: dict[str, Any]) -> str:
    """The vectorbt re-simulation of a change's out-of-sample trades (``evidence["vectorbt"]``) in one
    line: trades compared per playbook, whether they agree and how closely, those not expressible."""
    compared = check.get("compared") or {}
    per_playbook = ", ".join(f"{count} {label}" for label, count in compared.items())
    largest = check.get("largest_difference") or {}
    if check.get("agree"):
        head = (
            f"vectorbt agrees on every trade ({per_playbook} playbook): exit bars equal, largest exit price "
            f"difference {number_text(largest.get('exit_price'), '.1e')} (relative), return "
            f"{number_text(largest.get('return'), '.1e')} (per unit of leverage)"
        )
    else:
        head = (
            f"vectorbt DISAGREES on {check.get('disagreeing', '?')} of {sum(compared.values())} trades "
            f"({per_playbook} playbook)"
        )
    skipped = [
        f"{count} {reason} ({label})"
        for label, reasons in (check.get("not_expressible") or {}).items()
        for reason, count in reasons.items()
    ]
    tail = f"; not expressible in vectorbt: {', '.join(skipped)}" if skipped else ""
    return f"{head}{tail}"


AUDIT_MEASURES = {
    "growth": "log growth per trade",
    "return": "return on margin per trade",
    "quality": "quality of the trades traded more vs less",
}
"""What an audit's or a session's test measures per trade, by its kind (see :mod:`framework.judging`)."""
AUDIT_TESTS = {"growth": "paired log-growth test", "return": "paired return-on-margin test"}
"""The post-apply audit's test, by its kind."""
VERDICT_TEXTS = {
    "worse": "⚠️ worse",
    "better": "✅ better",
    "no_better": "➖ no better",
    "young": "⏳ too young",
    "unaudited": "· unaudited",
}
"""A post-apply audit's verdict on a version, as icon and words."""


def effect_text(effect: float | None, interval: tuple[float | None, float | None] | None = None) -> str:
    """A mean effect per trade with four decimals and sign, and its 90 % interval when known:
    ``-0.0021 (90 % -0.0035 .. -0.0007)``."""
    text = number_text(effect, "+.4f")
    low, high = interval or (None, None)
    if low is None and high is None:
        return text
    return f"{text} (90 % {number_text(low, '+.4f')} .. {number_text(high, '+.4f')})"


def underperforms_text(
    version: int,
    replaced: int | None,
    kind: str,
    effect: float,
    interval: tuple[float, float],
    trades: int,
    *,
    live_from: datetime | None = None,
) -> str:
    """One audit finding: ``version`` (live since ``live_from``, UTC) did worse than the version
    ``replaced`` on the live trades: ``effect`` per trade of the test ``kind``, with its 90 % ``interval``,
    over ``trades`` trades."""
    since = f" (live since {utc_text(live_from)})" if live_from else ""
    return (
        f"version {version}{since} underperforms version {replaced}, which it replaced: "
        f"{AUDIT_MEASURES.get(kind, kind)} {effect_text(effect, interval)} over {trades} trades"
    )


def accuracy_text(
    better: int,
    judged: int,
    share_better: float | None,
    young: int,
    unaudited: int = 0,
    next_judgeable: datetime | None = None,
) -> str:
    """The post-apply audit's recommendation accuracy in one line: ``N of M judged changes did better
    (x %), K too young, next judgeable at ...`` (``share_better`` a fraction; ``next_judgeable`` UTC, None
    when no young version will be judgeable at the effect measured so far)."""
    share = None if share_better is None else 100 * share_better
    text = f"{better} of {judged} judged changes did better ({number_text(share, '.0f', ' %')}), {young} too young"
    if next_judgeable is not None:
        text += f", next judgeable at {utc_text(next_judgeable)}"
    elif young:
        text += ", none judgeable at the effects measured so far"
    if unaudited:
        text += f", {unaudited} unaudited"
    return text
