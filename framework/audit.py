"""The post-apply audit: did each applied version deliver what its session predicted?

For every version in the store that replaced another, the trades the bot entered while it was live
(from the version's ``created_at`` to the next version's) are replayed under the version and under the
version it replaced, on the same candles, in one sweep; with a signal log, the signals the version left
out for their confidence are replayed too (the replaced version may take them). The two replays are
compared per trade with :func:`framework.judging.paired_evidence`, clustered by day as the gate does,
on the test chosen from the schema before the data is read: ``return`` when every change is judged on
return by the gate, ``growth`` (each trade's contribution to the account's log growth) otherwise.

The verdicts and their rule are described in :mod:`framework.audit_report`. A version is judged once it
has :attr:`~framework.config.AuditSettings.min_trades` live trades and either test (worse, better) is
significant at ``alpha``, or once it has as many trades as the predicted effect needs to show with
80 % power and it has not. Until then it is young, and judgeable when the effect measured so far
would be significant at the rate trades arrive.

Nothing here ever rolls back: a flagged version is for a person to decide on (``rollback``, or the
Roll back button, through :class:`framework.desk.TuningDesk`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.stats import norm

from framework.audit_report import (
    JUDGED,
    Accuracy,
    AuditedChange,
    AuditReport,
    Prediction,
    Realised,
    Side,
    VersionAudit,
)
from framework.config import Settings
from framework.decisions import utc_now
from framework.errors import PlaybookTunerError
from framework.judging import INTERVAL, day_clusters, paired_evidence
from framework.market import Market, load_market
from framework.out_of_sample import exposure
from framework.pipeline import TuneFiles, read_logs
from framework.playbook import (
    DEFAULT_REGIME,
    PARAMETERS,
    SPECS,
    STRATEGY_WEIGHTS,
    Playbook,
    format_duration,
    parse_playbook,
)
from framework.regimes import REGIMES, RegimeLabels, label_trades
from framework.replay import SweepResult, prepare, replay_candidates
from framework.session import Recommendation, Session, Value
from framework.stability import parameter_stability
from framework.store import PlaybookVersion, Store
from framework.tuning import with_untaken_signals

POWER = 0.80
"""Power at which a version's predicted effect is taken to have had its chance to show."""


def run_audit(
    files: TuneFiles,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    progress: Callable[[str], None] = lambda step: None,
    lenient: bool = False,
) -> AuditReport:
    """Audit every applied version in ``files.store_path`` on ``files.trades`` over ``files.prices``,
    store the report and return it. A version that cannot be replayed is ``unaudited`` with the reason;
    the audit itself fails only when, with a version to audit, the trade log or the candles cannot be
    read at all (with none, they are not read: a tune reads them next anyway)."""
    with Store(files.store_path, clock=clock) as store:
        store.register_live_playbook(files.playbook, author="audit")
        versions = store.playbook_versions()
        sessions = [Session.from_record(record) for record in store.sessions()]
        predictions = _predictions(store, sessions)
    applied = sum(v.parent is not None for v in versions)
    progress(f"auditing {applied} applied versions")
    audits = []
    if applied:
        trades, signals = read_logs(files, settings, progress, lenient=lenient)
        market = load_market(files.prices)
        labels = RegimeLabels(market)
        trades = label_trades(trades, market, labels=labels).reset_index(drop=True)
        for index, version in enumerate(versions):
            if version.parent is None:
                continue
            until = versions[index + 1].created_at if index + 1 < len(versions) else None
            replaced = next(v for v in versions if v.version == version.parent)
            prediction = predictions.get(version.version)
            audits.append(
                audit_version(version, replaced, until, trades, signals, market, labels, settings, prediction)
            )
    report = AuditReport(
        audited_at=clock(),
        live_version=versions[-1].version if versions else None,
        alpha=settings.audit.alpha,
        min_trades=settings.audit.min_trades,
        versions=tuple(audits),
        accuracy=accuracy(audits),
        stability=parameter_stability(sessions),
    )
    with Store(files.store_path, clock=clock) as store:
        store.save_audit(report.audited_at, report.model_dump(mode="json"))
    return report


def audit_version(
    version: PlaybookVersion,
    replaced: PlaybookVersion,
    until: datetime | None,
    trades: pd.DataFrame,
    signals: pd.DataFrame | None,
    market: Market,
    labels: RegimeLabels,
    settings: Settings,
    prediction: Prediction | None,
) -> VersionAudit:
    """One version against the one it replaced, on the trades entered while it was live."""
    base = {
        "version": version.version,
        "replaced": replaced.version,
        "live_from": version.created_at,
        "live_until": until,
        "author": version.author,
        "reason": version.reason,
        "prediction": prediction,
    }
    try:
        new = parse_playbook(version.text, source=f"playbook version {version.version}")
        old = parse_playbook(replaced.text, source=f"playbook version {replaced.version}")
    except PlaybookTunerError as exc:
        return VersionAudit(**base, verdict="unaudited", note=f"cannot read the playbook texts: {exc}")
    changes = playbook_changes(old, new)
    base["changes"] = changes
    live = _live(trades, version.created_at, until)
    if live.empty:
        return VersionAudit(**base, verdict="unaudited", note="the trade log has no trade entered while it was live")
    window_signals = None if signals is None else _live(signals, version.created_at, until)
    replayed = with_untaken_signals(live, window_signals, market, new, labels)
    try:
        inputs = prepare(replayed, market, settings.replay)
    except PlaybookTunerError as exc:
        return VersionAudit(**base, verdict="unaudited", note=f"cannot replay its trades: {exc}")
    result = replay_candidates(inputs, [new, old], settings.replay, per_trade=True)
    realised = _realised(audit_test(changes), replayed, (new, old), result, version.created_at, settings)
    if realised is None:
        return VersionAudit(**base, verdict="unaudited", note="neither version takes any of its trades")
    verdict, judgeable_at, note = _verdict(realised, prediction, version.created_at, settings)
    return VersionAudit(**base, realised=realised, verdict=verdict, judgeable_at=judgeable_at, note=note)


def playbook_changes(old: Playbook, new: Playbook) -> tuple[AuditedChange, ...]:
    """What ``new`` changes of ``old``: the default block's values, each regime's effective values where
    its own block differs, and the strategy weights."""
    changes = []
    for regime in (DEFAULT_REGIME, *REGIMES):
        for parameter in PARAMETERS:
            before, after = old.value(regime, parameter), new.value(regime, parameter)
            if regime != DEFAULT_REGIME:
                own = old.overrides.get(regime, {}).get(parameter), new.overrides.get(regime, {}).get(parameter)
                if own == (None, None):
                    continue  # follows the default block, whose change is listed there
            if before != after:
                changes.append(
                    AuditedChange(regime=regime, parameter=parameter, before=_value(before), after=_value(after))
                )
    for strategy in sorted(set(old.strategy_weights) | set(new.strategy_weights)):
        before, after = old.strategy_weight(strategy), new.strategy_weight(strategy)
        if before != after:
            changes.append(AuditedChange(regime=STRATEGY_WEIGHTS, parameter=strategy, before=before, after=after))
    return tuple(changes)


def audit_test(changes: Sequence[AuditedChange]) -> str:
    """``return`` when the gate judges every change on return, ``growth`` otherwise."""
    tests = {"quality" if c.regime == STRATEGY_WEIGHTS else SPECS[c.parameter].test for c in changes}
    return "return" if tests == {"return"} else "growth"


def accuracy(audits: Sequence[VersionAudit]) -> Accuracy:
    """Over the versions a session proposed (hand edits and rollbacks predict nothing)."""
    proposed = [a for a in audits if a.prediction is not None]
    counts = {verdict: sum(a.verdict == verdict for a in proposed) for verdict in (*JUDGED, "young", "unaudited")}
    judged = sum(counts[v] for v in JUDGED)
    return Accuracy(judged=judged, share_better=counts["better"] / judged if judged else None, **counts)


def _live(frame: pd.DataFrame, start: datetime, until: datetime | None) -> pd.DataFrame:
    entered = frame["entry_time"] >= pd.Timestamp(start)
    if until is not None:
        entered &= frame["entry_time"] < pd.Timestamp(until)
    return frame[entered].reset_index(drop=True)


def _realised(
    kind: str,
    replayed: pd.DataFrame,
    playbooks: tuple[Playbook, Playbook],
    result: SweepResult,
    live_from: datetime,
    settings: Settings,
) -> Realised | None:
    """The version (candidate 0 of ``result``) against the one it replaced (candidate 1), per trade."""
    new, old = result.trades(0), result.trades(1)
    new_taken, old_taken = new["taken"].to_numpy(dtype=bool), old["taken"].to_numpy(dtype=bool)
    either = (new_taken | old_taken) & reached(playbooks, replayed)
    if not either.any():
        return None
    new_return, old_return = new["return"].fillna(0.0).to_numpy(), old["return"].fillna(0.0).to_numpy()
    if kind == "growth":
        new_share, old_share = (exposure(playbook, replayed) for playbook in playbooks)
        differences = np.log1p(np.where(new_taken, new_share * new_return, 0.0)) - np.log1p(
            np.where(old_taken, old_share * old_return, 0.0)
        )
    else:
        differences = np.where(new_taken, new_return, 0.0) - np.where(old_taken, old_return, 0.0)
    entry_ns = replayed["entry_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    hold_ns = (replayed["exit_time"] - replayed["entry_time"]).to_numpy(dtype="timedelta64[ns]").astype(np.int64)
    clusters = day_clusters(entry_ns[either], hold_ns[either & ~replayed["trade_id"].str.startswith("signal:")])
    reps, seed = settings.audit.reps, 0
    better = paired_evidence(kind, differences[either], clusters, reps=reps, seed=seed)
    worse = paired_evidence(kind, -differences[either], clusters, reps=reps, seed=seed)
    exits = pd.concat([new.loc[new_taken, "exit_time"], old.loc[old_taken, "exit_time"]])
    days = (exits.max() - pd.Timestamp(live_from)) / pd.Timedelta(days=1)

    def side(candidate: int, taken: np.ndarray) -> Side:
        row = result.metrics.iloc[candidate]
        return Side(
            trades_taken=int(taken.sum()),
            log_growth=float(row["log_growth"]),
            total_return=float(row["total_return"]),
            max_drawdown=float(row["max_drawdown"]),
        )

    return Realised(
        kind=kind,
        trades=better.observations,
        days=max(float(days), 0.0),
        effect=better.effect,
        interval=better.interval,
        p_better=better.p_value,
        p_worse=worse.p_value,
        clusters=better.clusters,
        version=side(0, new_taken),
        replaced=side(1, old_taken),
    )


def _verdict(
    realised: Realised, prediction: Prediction | None, live_from: datetime, settings: Settings
) -> tuple[str, datetime | None, str]:
    """The verdict, when a young version will be judgeable, and the sentence that says why."""
    alpha, trades = settings.audit.alpha, realised.trades
    spread = _per_trade_spread(realised)
    predicted = prediction.effect if prediction is not None and prediction.kind == realised.kind else None
    needed_for_prediction = _trades_to_show(predicted, spread, alpha, POWER) if predicted else math.inf
    if trades >= settings.audit.min_trades:
        if realised.p_worse < alpha:
            return "worse", None, f"worse than the version it replaced ({_p(realised.p_worse)}, {trades} trades)"
        if realised.p_better < alpha:
            return "better", None, f"better than the version it replaced ({_p(realised.p_better)}, {trades} trades)"
        if trades >= needed_for_prediction:
            return (
                "no_better",
                None,
                f"the predicted effect {predicted:+.4f} per trade would have shown with {POWER:.0%} power "
                f"after {math.ceil(needed_for_prediction)} trades; {trades} trades show {realised.effect:+.4f}",
            )
    needed = max(
        float(settings.audit.min_trades),
        min(_trades_to_show(realised.effect, spread, alpha, 0.5), needed_for_prediction),
    )
    rate = trades / realised.days if realised.days > 0 else 0.0
    if not math.isfinite(needed) or rate <= 0:
        return "young", None, f"{trades} trades; at the effect measured so far no number of trades would tell"
    when = (pd.Timestamp(live_from) + pd.Timedelta(days=needed / rate)).floor("us")
    return (
        "young",
        when.to_pydatetime(),
        f"{trades} trades of the about {math.ceil(needed)} needed at the effect measured so far",
    )


def reached(playbooks: tuple[Playbook, Playbook], trades: pd.DataFrame) -> np.ndarray:
    """The trades whose parameters differ between the two playbooks (their regime's block or their
    strategy's weight): the trades the version's changes reach, as the gate's test counts them."""
    new, old = playbooks
    regimes = trades["regime"].astype(object).where(trades["regime"].notna(), None)
    block = {r: new.parameters_for(r) != old.parameters_for(r) for r in set(regimes)}
    weight = {s: new.strategy_weight(s) != old.strategy_weight(s) for s in set(trades["strategy"])}
    return regimes.map(block).to_numpy(dtype=bool) | trades["strategy"].map(weight).to_numpy(dtype=bool)


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _per_trade_spread(realised: Realised) -> float:
    """The standard deviation of one trade's difference implied by the effect's interval."""
    low, high = realised.interval
    error = (high - low) / (2.0 * norm.ppf(0.5 + INTERVAL / 2.0))
    return error * math.sqrt(realised.trades)


def _trades_to_show(effect: float | None, spread: float, alpha: float, power: float) -> float:
    """Trades at which a true ``effect`` per trade is significant at ``alpha`` with ``power``."""
    if effect is None or effect == 0 or not spread > 0:
        return math.inf
    return ((norm.ppf(1 - alpha) + norm.ppf(power)) * spread / abs(effect)) ** 2


def _value(value: object) -> Value:
    """A playbook value as the session's JSON writes one."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    if isinstance(value, pd.Timedelta):
        return format_duration(value)
    return str(value)


def _predictions(store: Store, sessions: Sequence[Session]) -> dict[int, Prediction]:
    """What each session-published version's session measured for the changes it applied."""
    found: dict[int, Prediction] = {}
    for session in sessions:
        decisions = [d for d in store.decisions(session.session_id) if d.result_version is not None]
        if not decisions:
            continue
        applied = {r.id for r in store.recommendations(session.session_id) if r.status == "applied"}
        for decision in decisions:
            items = [r for r in session.recommendations if r.id in applied]
            if decision.recommendation_id is not None:
                items = [r for r in items if r.id == decision.recommendation_id]
            if items:
                found[decision.result_version] = _prediction(session.session_id, items)  # type: ignore[index]
    return found


def _prediction(session_id: str, items: Sequence[Recommendation]) -> Prediction:
    tests = {_gate_test(item) for item in items}
    kind = tests.pop() if len(tests) == 1 else "mixed"
    effect, interval = None, (None, None)
    if kind != "mixed" and len(items) == 1:
        evidence = items[0].validation.evidence if items[0].validation else {}
        effect = evidence.get("capped_effect", evidence.get("effect"))
        if effect is not None and effect == evidence.get("effect") and evidence.get("interval"):
            interval = tuple(evidence["interval"])
    return Prediction(
        session_id=session_id, items=tuple(i.id for i in items), kind=kind, effect=effect, interval=interval
    )


def _gate_test(item: Recommendation) -> str:
    return "quality" if item.regime == STRATEGY_WEIGHTS else SPECS[item.parameter].test
