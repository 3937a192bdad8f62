"""The tune pipeline: trade log (+ signals) + candles + playbook -> gate -> a stored tuning session.

trades -> regimes -> (tuners -> safety rules -> out-of-sample replay -> statistics, in the gate) ->
recommendations in a session (status pending, expiring after ``session_expiry_hours``) in the store.
With ``human_review_required = false`` the validated low-risk changes are applied at once.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from framework.approval import Approvals, DecisionOutcome
from framework.config import Settings
from framework.errors import InputError
from framework.freqtrade import read_signal_log, read_trade_log
from framework.market import load_market
from framework.models import ModelStore
from framework.playbook import SPECS, STRATEGY_WEIGHTS, TUNABLE_PARAMETERS, Playbook, load_playbook
from framework.quality import DataQuality, data_quality
from framework.regimes import REGIMES, RegimeLabels, label_trades
from framework.sample import cached_sample
from framework.search import DataRef, chosen_storage, search_settings
from framework.session import DailyEquity, Recommendation, Session, SessionCharts
from framework.store import STORE_FILE_NAME, RecommendationRecord, SessionRecord, Store
from framework.tuners import NoProposal, Proposal, Tuner, TuningContext, load_tuners
from framework.validation import GateReport, Verdict, run_gate

MODELS_FOLDER_NAME = "models"


@dataclass(frozen=True)
class TuneFiles:
    """Where a tuning run reads and writes. ``store`` defaults to ``playbook-tuner.sqlite`` beside
    the playbook, and the fitted models go to a ``models`` folder beside the store."""

    trades: Path
    prices: Path
    playbook: Path
    signals: Path | None = None
    store: Path | None = None

    @property
    def store_path(self) -> Path:
        return self.store or self.playbook.parent / STORE_FILE_NAME

    @property
    def models_path(self) -> Path:
        """Where ``tune`` keeps the fitted models (a :class:`~framework.models.ModelStore`)."""
        return self.store_path.parent / MODELS_FOLDER_NAME

    def data_ref(self, settings: Settings, *, lenient: bool = False) -> DataRef:
        """These files as a search worker reads them (absolute paths), with ``settings``' replay and
        reading sections and ``lenient``: the whole log; a tune's windows narrow it (:meth:`DataRef.within`)."""
        return DataRef(
            trades=str(self.trades.resolve()), prices=str(self.prices.resolve()), playbook=str(self.playbook.resolve()),
            signals=str(self.signals.resolve()) if self.signals else None, settings=search_settings(settings),
            lenient=lenient,
        )  # fmt: skip


@dataclass(frozen=True)
class TuneOutcome:
    """A finished run: the stored session (its row and its typed contents) and the gate's report."""

    session: SessionRecord
    recommendations: tuple[RecommendationRecord, ...]
    report: GateReport
    quality: DataQuality
    contents: Session
    auto_applied: DecisionOutcome | None

    @property
    def document(self) -> dict[str, Any]:
        """The ``tune --json`` document."""
        return self.contents.document()


class WrittenPlaybook(Tuner):
    """Proposes what a hand-written playbook changes, regime by regime, so the gate can judge it."""

    name = "hand_written"
    parameters = TUNABLE_PARAMETERS

    def __init__(self, candidate: Playbook):
        self.candidate = candidate

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        outcomes: list[Proposal | NoProposal] = []
        why = f"written in {self.candidate.source}"
        for regime in REGIMES:
            now, then = context.playbook.parameters_for(regime), self.candidate.parameters_for(regime)
            for parameter, spec in SPECS.items():
                current, written = getattr(now, parameter), getattr(then, parameter)
                if written == current:
                    continue
                if spec.tunable and current is not None and written is not None:
                    outcomes.append(Proposal(self.name, regime, parameter, current, (written,), 1.0, why))
                else:
                    reason = f"{parameter} changes are not validated" + (
                        f" from or to empty ({spec.absent})" if spec.tunable else ""
                    )
                    outcomes.append(NoProposal(self.name, regime, parameter, reason))
        for strategy in sorted(set(context.trades["strategy"])):
            current, written = context.playbook.strategy_weight(strategy), self.candidate.strategy_weight(strategy)
            if written != current:
                outcomes.append(Proposal(self.name, STRATEGY_WEIGHTS, strategy, current, (written,), 1.0, why))
        return outcomes


def run_tune(
    files: TuneFiles,
    settings: Settings,
    *,
    seed: int = 0,
    lookback_days: int | None = None,
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
    candidate: Path | None = None,
    lenient: bool = False,
    search_storage: str | None = None,
    progress: Callable[[str], None] = lambda step: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TuneOutcome:
    """Run the whole pipeline and store the session; see the module docstring.

    ``lookback_days`` (default ``settings.lookback_days``) keeps the trades that entered within that
    many days of the last exit; ``period`` (UTC, [start, end)) narrows them further. With
    ``candidate``, a hand-written playbook is judged instead of the tuners' proposals: the same gate
    and statistics, its values exactly as written (no safety rules). ``search_storage`` (default
    ``settings.search_storage``; empty: in memory) is the Optuna storage URL of the tuners' searches.
    The models the tuners fitted on the whole search window (those behind the recommendations) are
    saved as new versions in ``files.models_path``; ``report.final_pass.saved_models`` lists them.
    """
    search_storage = chosen_storage(search_storage, settings)
    progress("loading the trade log, candles and playbook")
    trades, signals = read_logs(files, settings, progress, lenient=lenient)
    market = load_market(files.prices)
    playbook = load_playbook(files.playbook)
    days = lookback_days if lookback_days is not None else settings.lookback_days
    analysed, signals = within_lookback(trades, signals, days, period)
    if analysed.empty:
        raise InputError.single(str(files.trades), _nothing_in_lookback(trades, days, period))
    trades = analysed
    labels = RegimeLabels(market)  # each symbol classified once, for every window of the tune
    trades = label_trades(trades, market, labels=labels).reset_index(drop=True)

    with Store(files.store_path, clock=clock) as store:
        version = store.register_live_playbook(files.playbook, author="tune")
        progress(f"analyzing {len(trades)} trades from the last {days} days: tuning and validating")
        if candidate is None:
            tuners: list[Tuner] = load_tuners(list(settings.tuners), settings.tuner_options)
        else:
            tuners = [WrittenPlaybook(load_playbook(candidate))]
        report = run_gate(
            trades, market, playbook, settings, tuners, signals=signals, seed=seed, safety=candidate is None,
            progress=progress, labels=labels, search_storage=search_storage, model_store=ModelStore(files.models_path),
            data_ref=files.data_ref(settings, lenient=lenient) if search_storage else None,
        )  # fmt: skip
        quality = data_quality(trades, settings)
        created = clock()
        session_id = f"{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        expires = created + timedelta(hours=settings.session_expiry_hours)
        recommendations = _recommendations(report)
        summary = headline(report, trades, days, settings) if len(trades) else None
        contents = _session(session_id, created, expires, trades, quality, report, recommendations, days, summary)
        session = SessionRecord(session_id, created, expires, "pending", version.version, contents.stored())
        records = tuple(_record(session_id, rec) for rec in recommendations)
        progress("storing the session")
        store.save_session(session, records)
        store.audit("tune", "session_created", {"session": session_id, "recommendations": len(records)})
        auto = None
        if records and not settings.human_review_required:
            auto = Approvals(store, files.playbook, clock=clock).auto_apply(session_id)
        pending = tuple(r.id for r in store.recommendations(session_id) if r.status == "pending")
        contents = contents.model_copy(update={"pending": pending})
        return TuneOutcome(session, records, report, quality, contents, auto)


def read_logs(
    files: TuneFiles, settings: Settings, progress: Callable[[str], None], *, lenient: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The trade log and, when ``files`` names one, the signal log, read as they are (freqtrade's or
    ours); what each reader warns of is shown as a stage."""
    read = read_trade_log(files.trades, settings.freqtrade, lenient=lenient)
    for warning in read.warnings:
        progress(f"{files.trades.name}: {warning}")
    trades = read.log.frame
    if not files.signals:
        return trades, None
    read_signals = read_signal_log(files.signals, settings.freqtrade, trades=trades, lenient=lenient)
    for warning in read_signals.warnings:
        progress(f"{files.signals.name}: {warning}")
    return trades, read_signals.log.frame


def within_lookback(
    trades: pd.DataFrame,
    signals: pd.DataFrame | None,
    days: int,
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None),
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The trades (and signals) that entered within ``days`` of the last exit and inside ``period``
    (UTC, [start, end)): what ``tune`` analyses."""
    start = trades["exit_time"].max() - pd.Timedelta(days=days)
    if period[0] is not None:
        start = max(start, period[0])
    end = period[1] if period[1] is not None else pd.Timestamp.max.tz_localize("UTC")
    kept = trades[trades["entry_time"].between(start, end, inclusive="left")]
    if signals is not None:
        signals = signals[signals["entry_time"].between(start, end, inclusive="left")].reset_index(drop=True)
    return kept, signals


def _nothing_in_lookback(
    trades: pd.DataFrame, days: int, period: tuple[pd.Timestamp | None, pd.Timestamp | None]
) -> str:
    """Why :func:`within_lookback` kept none of ``trades`` (a log with trades)."""
    start, end = (f"{bound:%Y-%m-%d %H:%M}" if bound is not None else "" for bound in period)
    inside = f" and inside the period [{start or '...'}, {end or '...'})" if start or end else ""
    return (
        f"no trade entered within lookback_days = {days} of the last exit "
        f"({trades['exit_time'].max():%Y-%m-%d %H:%M} UTC){inside}; the log's {len(trades)} trades enter from "
        f"{trades['entry_time'].min():%Y-%m-%d %H:%M} to {trades['entry_time'].max():%Y-%m-%d %H:%M}: "
        "check the last exit times, or raise lookback_days"
    )


def headline(report: GateReport, trades: pd.DataFrame, days: int, settings: Settings) -> str | None:
    """When nothing validated, one line saying why and what would change that; None otherwise."""
    if report.accepted:
        return None
    need = settings.validation.min_oos_trades
    counts = report.out_of_sample_by_regime
    thin = {regime: n for regime, n in counts.items() if n < need}
    if not report.verdicts and not report.final_pass.accepted:
        why = "no tuner proposed a change that passed the safety rules"
    else:
        why = f"none of the {len(report.verdicts)} proposals tested out of sample passed the gate"
    if not thin:
        return f"nothing validated: {why}; see the reasons above"
    span_days = max((trades["exit_time"].max() - trades["entry_time"].min()).total_seconds() / 86400.0, 1.0)
    nearest = max(thin, key=lambda regime: thin[regime])  # the regime closest to enough
    rate = thin[nearest] / span_days
    more = (
        f"at its rate of {rate:.1f} out-of-sample trades a day, about {math.ceil((need - thin[nearest]) / rate)} "
        "more days of trading"
        if rate > 0
        else "trades in it"
    )
    listed = ", ".join(f"{regime} {n}" for regime, n in sorted(thin.items(), key=lambda item: item[1]))
    return (
        f"nothing validated: {why}; {len(thin)} of {len(counts)} regimes have fewer than {need} out-of-sample "
        f"trades (min_oos_trades; {listed}) in the {days} days analysed (lookback_days). {nearest} needs {more}, "
        "or a longer lookback_days if the log goes back further"
    )


@dataclass(frozen=True)
class ValidationRun:
    """A named validation run (``backtests/<run>.yaml``): which data, which period, which candidate.

    Paths are relative to the run file (``data: embedded-sample`` gives the embedded sample's).
    """

    candidate: Path
    trades: Path
    prices: Path
    playbook: Path
    signals: Path | None
    config: Path | None
    period: tuple[pd.Timestamp | None, pd.Timestamp | None]


def load_validation_run(path: Path) -> ValidationRun:
    """Read a run file::

    candidate: candidates/more_leverage.yaml   # required
    data: embedded-sample                      # or the four paths below
    trades: ..., prices: ..., playbook: ..., signals: ...   (signals optional)
    config: ...                                # optional
    period: {start: 2026-02-01, end: 2026-05-01}   # optional, UTC, [start, end)
    """
    document = _yaml_mapping(path)
    allowed = {"candidate", "data", "trades", "prices", "playbook", "signals", "config", "period", "description"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InputError.single(str(path), f"unknown keys {unknown}; allowed: {sorted(allowed)}")
    if "candidate" not in document:
        raise InputError.single(str(path), "missing key", field="candidate")

    def local(key: str) -> Path | None:
        value = document.get(key)
        return None if value is None else (path.parent / str(value))

    if document.get("data") == "embedded-sample":
        sample = cached_sample()
        trades, prices, playbook, signals = sample.trades, sample.prices, sample.playbook, None
    elif document.get("data") is not None:
        raise InputError.single(str(path), "data must be 'embedded-sample' (or give the paths)", field="data")
    else:
        missing = [key for key in ("trades", "prices", "playbook") if key not in document]
        if missing:
            raise InputError.single(str(path), f"give data: embedded-sample or the paths {missing}")
        trades, prices, playbook = (path.parent / str(document[key]) for key in ("trades", "prices", "playbook"))
        signals = local("signals")
    period = document.get("period") or {}
    bounds = tuple(None if period.get(k) is None else pd.Timestamp(str(period[k]), tz="UTC") for k in ("start", "end"))
    candidate = path.parent / str(document["candidate"])
    return ValidationRun(candidate, trades, prices, playbook, signals, local("config"), (bounds[0], bounds[1]))


def _yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError.single(str(path), "file not found") from None
    except YAMLError as exc:
        raise InputError.single(str(path), f"not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise InputError.single(str(path), "must be a mapping of keys to values")
    return document


def _recommendations(report: GateReport) -> tuple[Recommendation, ...]:
    """The gate's accepted verdicts as the session's recommendations ``r1``, ``r2``, ... in order."""
    return tuple(
        Recommendation.model_validate(
            {
                "id": f"r{n}",
                "regime": verdict.slot.regime,
                "parameter": verdict.slot.parameter,
                "current": verdict.proposal.proposal.current,
                "proposed": verdict.value,
                "risk": verdict.proposal.risks[verdict.proposal.candidates.index(verdict.value)],
                "confidence": verdict.confidence,
                **_verdict_fields(verdict),
            }
        )
        for n, verdict in enumerate(report.accepted, start=1)
    )


def _record(session_id: str, recommendation: Recommendation) -> RecommendationRecord:
    rec = recommendation
    return RecommendationRecord(
        rec.id, session_id, rec.regime, rec.parameter, rec.current, rec.proposed, rec.risk, rec.confidence, "pending",
        rec.assessment(),
    )  # fmt: skip


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    """The fields of an :class:`Assessment` of ``verdict`` (the session's model cleans NaN to null)."""
    proposal = verdict.proposal.proposal
    model = proposal.model
    current = proposal.current
    return {
        "tuner": proposal.tuner,
        "rationale": proposal.rationale,
        "change_pct": 100.0 * (verdict.value - current) / current if current else None,
        "model": {"r2": model.r2, "mae": model.mae} if model else None,
        "validation": {
            "accepted": verdict.accepted,
            "reason": verdict.reason,
            "p_value": verdict.p_value,
            "dsr": verdict.dsr,
            "n_trials": verdict.n_trials,
            "out_of_sample_trades": verdict.oos_trades,
            "own_trades": verdict.own_trades,
            "evidence": verdict.evidence,
            "baseline": verdict.baseline_out,
            "candidate": verdict.candidate_out,
            "in_sample": {"baseline": verdict.baseline_in, "candidate": verdict.candidate_in},
        },
    }


def _session(
    session_id: str,
    created: datetime,
    expires: datetime,
    trades: pd.DataFrame,
    quality: DataQuality,
    report: GateReport,
    recommendations: tuple[Recommendation, ...],
    lookback_days: int,
    summary: str | None,
) -> Session:
    """The session as stored; its ``pending`` is set once the run has decided what it decides."""
    rejected = [
        {
            "regime": v.slot.regime,
            "parameter": v.slot.parameter,
            "current": v.proposal.proposal.current,
            "proposed": v.value,
            **_verdict_fields(v),
            "reason": v.reason,
        }
        for v in report.verdicts
        if not v.accepted
    ]
    rejected += [
        {"regime": r.regime, "parameter": r.parameter, "tuner": r.tuner, "reason": r.reason} for r in report.refused
    ]
    return Session.model_validate(
        {
            "session_id": session_id,
            "created_at": created,
            "expires_at": expires,
            "trades_analyzed": len(trades),
            "lookback_days": lookback_days,
            "headline": summary,
            "data_quality": {"score": quality.score, "parts": quality.parts},
            "out_of_sample_by_regime": report.out_of_sample_by_regime,
            "search_trades": report.search_trades,
            "holdout_trades": report.holdout_trades,
            "folds": report.folds,
            "layout": report.layout,
            "out_of_sample_days": report.out_of_sample_days,
            "recommendations": recommendations,
            "rejected": rejected,
            "charts": _charts(report, trades, recommendations),
        }
    )


def _charts(report: GateReport, trades: pd.DataFrame, recommendations: tuple[Recommendation, ...]) -> SessionCharts:
    """Each recommendation's daily equity out of sample, and the regime most trades entered in each day."""
    regimes = daily_regimes(pd.Series(trades["regime"].to_numpy(), index=pd.DatetimeIndex(trades["entry_time"])))
    equity = []
    for rec, verdict in zip(recommendations, report.accepted, strict=True):
        baseline = verdict.baseline_equity[~verdict.baseline_equity.index.duplicated(keep="last")]
        candidate = verdict.candidate_equity[~verdict.candidate_equity.index.duplicated(keep="last")]
        days = _utc(pd.DatetimeIndex(baseline.index)).to_pydatetime()
        equity.append(
            DailyEquity(
                item=rec.id, days=tuple(days), baseline=tuple(baseline.tolist()), candidate=tuple(candidate.tolist())
            )
        )
    return SessionCharts(
        equity=tuple(equity),
        regime_days=tuple(_utc(pd.DatetimeIndex(regimes.index)).to_pydatetime()),
        regimes=tuple(regimes),
    )


def daily_regimes(regimes: pd.Series) -> pd.Series:
    """The regime of each UTC day: the label most of that day's timestamps carry (ties in :data:`REGIMES` order).

    ``regimes`` is a label (or NA) per timestamp, e.g. per trade entry of several symbols, where labels of
    different symbols interleave and would shade the chart in stripes too thin to read. The result has
    one label per UTC midnight starting a day with at least one label; it holds until the next one.
    """
    labels = regimes[regimes.notna() & ~regimes.index.isna()].astype(str)
    if labels.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=object, name="regime")
    days = _utc(pd.DatetimeIndex(labels.index)).floor("D")
    counts = pd.crosstab(days, pd.Categorical(labels.to_numpy(), categories=list(REGIMES)), dropna=False)
    counts = counts.reindex(columns=list(REGIMES), fill_value=0)
    return pd.Series(counts.idxmax(axis=1).to_numpy(dtype=object), index=pd.DatetimeIndex(counts.index), name="regime")


def _utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``index`` in UTC (naive times are taken as UTC)."""
    return index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
