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
from framework.market import load_market
from framework.models import ModelStore
from framework.playbook import STRATEGY_WEIGHTS, TUNABLE_PARAMETERS, Playbook, load_playbook
from framework.quality import DataQuality, data_quality
from framework.regimes import REGIMES, RegimeLabels, label_trades
from framework.sample import cached_sample
from framework.store import STORE_FILE_NAME, RecommendationRecord, SessionRecord, Store
from framework.trades import load_signals, load_trades
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


@dataclass(frozen=True)
class TuneOutcome:
    """A finished run: the stored session, the gate's report and the ``--json`` document."""

    session: SessionRecord
    recommendations: tuple[RecommendationRecord, ...]
    report: GateReport
    quality: DataQuality
    document: dict[str, Any]
    auto_applied: DecisionOutcome | None
    regimes: pd.Series
    """Regime of each analysed trade at its entry, by entry time (for charts)."""


class WrittenPlaybook(Tuner):
    """Proposes what a hand-written playbook changes, regime by regime, so the gate can judge it."""

    name = "hand_written"
    parameters = TUNABLE_PARAMETERS

    def __init__(self, candidate: Playbook):
        self.candidate = candidate

    def propose(self, context: TuningContext) -> list[Proposal | NoProposal]:
        outcomes: list[Proposal | NoProposal] = []
        for regime in REGIMES:
            now, then = context.playbook.parameters_for(regime), self.candidate.parameters_for(regime)
            if now.max_hold != then.max_hold:
                outcomes.append(NoProposal(self.name, regime, "max_hold", "max_hold changes are not validated"))
            for parameter in TUNABLE_PARAMETERS:
                current, written = getattr(now, parameter), getattr(then, parameter)
                if written != current:
                    why = f"written in {self.candidate.source}"
                    outcomes.append(Proposal(self.name, regime, parameter, current, (written,), 1.0, why))
        for strategy in sorted(set(context.trades["strategy"])):
            current, written = context.playbook.strategy_weight(strategy), self.candidate.strategy_weight(strategy)
            if written != current:
                why = f"written in {self.candidate.source}"
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
    progress("loading the trade log, candles and playbook")
    trades = load_trades(files.trades, lenient=lenient).frame
    signals = load_signals(files.signals, lenient=lenient).frame if files.signals else None
    market = load_market(files.prices)
    playbook = load_playbook(files.playbook)
    days = lookback_days if lookback_days is not None else settings.lookback_days
    trades, signals = within_lookback(trades, signals, days, period)
    labels = RegimeLabels(market)  # each symbol classified once, for every window of the tune
    trades = label_trades(trades, market, labels=labels).reset_index(drop=True)

    with Store(files.store_path) as store:
        version = store.register_live_playbook(files.playbook, author="tune")
        progress(f"analyzing {len(trades)} trades from the last {days} days: tuning and validating")
        if candidate is None:
            tuners: list[Tuner] = load_tuners(list(settings.tuners), settings.tuner_options)
        else:
            tuners = [WrittenPlaybook(load_playbook(candidate))]
        report = run_gate(
            trades, market, playbook, settings, tuners, signals=signals, seed=seed, safety=candidate is None,
            progress=progress, labels=labels, search_storage=search_storage or settings.search_storage or None,
            model_store=ModelStore(files.models_path),
        )  # fmt: skip
        quality = data_quality(trades, settings)
        created = clock()
        session_id = f"{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        expires = created + timedelta(hours=settings.session_expiry_hours)
        recommendations = tuple(
            _recommendation(session_id, f"r{n}", verdict) for n, verdict in enumerate(report.accepted, start=1)
        )
        summary = headline(report, trades, days, settings) if len(trades) else None
        document = _document(session_id, created, expires, len(trades), quality, report, recommendations, days, summary)
        session = SessionRecord(session_id, created, expires, "pending", version.version, document)
        progress("storing the session")
        store.save_session(session, recommendations)
        store.audit("tune", "session_created", {"session": session_id, "recommendations": len(recommendations)})
        auto = None
        if recommendations and not settings.human_review_required:
            auto = Approvals(store, files.playbook, clock=clock).auto_apply(session_id)
        document["pending"] = [r.id for r in store.recommendations(session_id) if r.status == "pending"]
        regimes = pd.Series(trades["regime"].to_numpy(), index=pd.DatetimeIndex(trades["entry_time"]))
        return TuneOutcome(session, recommendations, report, quality, document, auto, regimes)


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


def _recommendation(session_id: str, item_id: str, verdict: Verdict) -> RecommendationRecord:
    proposal = verdict.proposal
    risk = proposal.risks[proposal.candidates.index(verdict.value)]
    return RecommendationRecord(
        id=item_id,
        session_id=session_id,
        regime=verdict.slot.regime,
        parameter=verdict.slot.parameter,
        current=proposal.proposal.current,
        proposed=verdict.value,
        risk=risk,
        confidence=verdict.confidence,
        status="pending",
        payload=_verdict_fields(verdict),
    )


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    proposal = verdict.proposal.proposal
    model = proposal.model
    current = proposal.current
    return {
        "tuner": proposal.tuner,
        "rationale": proposal.rationale,
        "change_pct": json_number(100.0 * (verdict.value - current) / current) if current else None,
        "model": {"r2": json_number(model.r2), "mae": json_number(model.mae)} if model else None,
        "validation": {
            "accepted": verdict.accepted,
            "reason": verdict.reason,
            "p_value": json_number(verdict.p_value),
            "dsr": json_number(verdict.dsr),
            "n_trials": verdict.n_trials,
            "out_of_sample_trades": verdict.oos_trades,
            "own_trades": verdict.own_trades,
            "evidence": _evidence_numbers(verdict.evidence),
            "baseline": _numbers(verdict.baseline_out),
            "candidate": _numbers(verdict.candidate_out),
            "in_sample": {"baseline": _numbers(verdict.baseline_in), "candidate": _numbers(verdict.candidate_in)},
        },
    }


def _document(
    session_id: str,
    created: datetime,
    expires: datetime,
    trades_analyzed: int,
    quality: DataQuality,
    report: GateReport,
    recommendations: tuple[RecommendationRecord, ...],
    lookback_days: int,
    summary: str | None,
) -> dict[str, Any]:
    """The ``tune --json`` contract (also the session's payload); ``pending`` is added once stored."""
    rejected: list[dict[str, Any]] = [
        {
            "regime": v.slot.regime,
            "parameter": v.slot.parameter,
            "tuner": v.slot.tuner,
            "current": v.proposal.proposal.current,
            "proposed": v.value,
            **_verdict_fields(v),
        }
        for v in report.verdicts
        if not v.accepted
    ]
    rejected += [
        {"regime": r.regime, "parameter": r.parameter, "tuner": r.tuner, "reason": r.reason} for r in report.refused
    ]
    for entry in rejected:
        entry.setdefault("reason", entry.get("validation", {}).get("reason"))
    return {
        "session_id": session_id,
        "created_at": created.isoformat(),
        "expires_at": expires.isoformat(),
        "trades_analyzed": trades_analyzed,
        "lookback_days": lookback_days,
        "headline": summary,
        "data_quality": {"score": quality.score, "parts": quality.parts},
        "out_of_sample_by_regime": report.out_of_sample_by_regime,
        "search_trades": report.search_trades,
        "holdout_trades": report.holdout_trades,
        "folds": report.folds,
        "layout": report.layout,
        "out_of_sample_days": report.out_of_sample_days,
        "recommendations": [
            {
                "id": r.id,
                "regime": r.regime,
                "parameter": r.parameter,
                "current": r.current,
                "proposed": r.proposed,
                "risk": r.risk,
                "confidence": json_number(r.confidence),
                **r.payload,
            }
            for r in recommendations
        ],
        "rejected": rejected,
    }


def json_number(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return float(value) if math.isfinite(value) else None


def _evidence_numbers(evidence: dict[str, Any]) -> dict[str, Any]:
    """The gate's evidence with NaN and infinity (in lists too) as null."""

    def clean(value: Any) -> Any:
        if isinstance(value, list):
            return [clean(item) for item in value]
        return json_number(value) if isinstance(value, float) else value

    return {key: clean(value) for key, value in evidence.items()}


def _numbers(metrics: dict[str, float]) -> dict[str, float | None]:
    return {name: json_number(value) for name, value in metrics.items()}
