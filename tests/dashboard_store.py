"""A store for the dashboard's tests, built through the real Store API: four playbook versions published
on a clock, four tuning sessions (typed :class:`Session` documents with recommendations, rejections,
models, data quality and daily equity), their decisions, and two audits built with
``AuditReport.model_validate``. :class:`Built` says what went in, for the tests to compare with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from framework.audit_report import AuditReport
from framework.session import Session
from framework.store import RecommendationRecord, SessionRecord, Store
from tests.clock import Clock

START = datetime(2026, 9, 7, 9, tzinfo=UTC)  # a Monday
PLAYBOOK = """\
default:
  leverage: {leverage}
  stop_loss: 0.02
  risk_reward_ratio: 2.0
  confidence_threshold: 0.5
  position_size: 0.1
  max_hold: {max_hold}
regimes:
  ranging:
    risk_reward_ratio: {ranging_rr}
  volatile:
    leverage: 3.0
strategy_weights:
  momentum: 1.0
"""
VERSIONS = (  # (leverage, max_hold, ranging risk_reward_ratio, days after START)
    (2.0, "48h", 3.0, 0),
    (2.4, "48h", 3.0, 8),
    (2.4, "36h", 2.5, 16),
    (2.4, "36h", 2.5, 24),
)


@dataclass(frozen=True)
class Built:
    path: Path
    versions: int
    sessions: dict[str, tuple[int, int]]
    """Each session's (validated, rejected)."""
    decisions: dict[str, dict[str, int]]
    quality: dict[str, float]
    equity_items: int
    """Validated changes with daily equity in the three newest sessions."""
    accuracy: tuple[int, int]
    """(better, judged) of the latest audit."""


def _equity(days: int, start: datetime, drift: float) -> dict[str, object]:
    moments = [(start + timedelta(days=d)).isoformat() for d in range(days)]
    baseline = [1000 * math.exp(0.002 * d + 0.01 * math.sin(d / 3)) for d in range(days)]
    candidate = [b * math.exp(drift * d) for d, b in enumerate(baseline)]
    return {"days": moments, "baseline": baseline, "candidate": candidate}


def _session(index: int, created: datetime) -> tuple[Session, list[tuple[str, str, str, float, float]]]:
    """Session ``index`` (0-3): index + 1 validated changes (one without equity in session 1) and 2 + index
    rejected proposals; returns it and its items (id, regime, parameter, current, proposed)."""
    items = [
        (f"r{n + 1}", ("ranging", "volatile", "default", "trending_up")[n], "leverage", 2.0, 2.0 + 0.2 * (n + 1))
        for n in range(index + 1)
    ]
    recommendations = [
        {
            "id": item,
            "regime": regime,
            "parameter": parameter,
            "current": current,
            "proposed": proposed,
            "risk": "medium",
            "confidence": 0.8 + 0.03 * n + 0.01 * index,
            "tuner": "leverage",
            "model": {"r2": 0.05 * index + 0.01 * n, "mae": 0.02 - 0.002 * index},
            "validation": {"accepted": True, "p_value": 0.2 - 0.03 * n, "dsr": 0.5},
        }
        for n, (item, regime, parameter, current, proposed) in enumerate(items)
    ]
    rejected = [
        {
            "regime": "ranging",
            "parameter": "stop_loss",
            "current": 0.02,
            "proposed": 0.018,
            "tuner": "risk_ratio",
            "reason": "not better out of sample",
            "model": {"r2": -0.02 + 0.01 * n, "mae": 0.01},
        }
        for n in range(2 + index)
    ]
    equity = [
        {"item": item, **_equity(30, created - timedelta(days=30), 0.0005 * (n + 1))}
        for n, (item, *_) in enumerate(items)
        if not (index == 1 and item == "r2")
    ]
    document = {
        "session_id": f"s{index + 1}",
        "created_at": created.isoformat(),
        "expires_at": (created + timedelta(days=1)).isoformat(),
        "trades_analyzed": 900 + 50 * index,
        "headline": None,
        "data_quality": {
            "score": 70.0 + 5 * index,
            "parts": {"completeness": 100.0, "trade_count": 80.0 + 5 * index, "time_coverage": 30.0 + 10 * index},
        },
        "recommendations": recommendations,
        "rejected": rejected,
        "charts": {"equity": equity},
    }
    return Session.parse(document), items


def _audit(audited_at: datetime, verdicts: dict[int, str]) -> AuditReport:
    versions = []
    for version, verdict in verdicts.items():
        realised = None
        if verdict != "unaudited":
            effect = {"better": 0.004, "worse": -0.003, "no_better": 0.0002, "young": 0.001}[verdict]
            side = {"trades_taken": 120, "log_growth": 0.1, "total_return": 0.1, "max_drawdown": -0.05}
            realised = {
                "kind": "growth",
                "trades": 120,
                "days": 8.0,
                "effect": effect,
                "interval": [effect - 0.002, effect + 0.002],
                "p_better": 0.03,
                "p_worse": 0.9,
                "clusters": 8,
                "version": side,
                "replaced": side,
            }
        versions.append(
            {
                "version": version,
                "replaced": version - 1,
                "live_from": (START + timedelta(days=VERSIONS[version - 1][3])).isoformat(),
                "live_until": None
                if version == len(VERSIONS)
                else (START + timedelta(days=VERSIONS[version][3])).isoformat(),
                "author": "cli",
                "reason": f"apply of session s{version - 1}",
                "changes": [{"regime": "default", "parameter": "leverage", "before": 2.0, "after": 2.4}],
                "prediction": {
                    "session_id": f"s{version - 1}",
                    "items": ["r1"],
                    "kind": "growth",
                    "effect": 0.002 * version,
                    "interval": [0.0, 0.004 * version],
                },
                "realised": realised,
                "verdict": verdict,
                "note": f"version {version}: {verdict}",
            }
        )
    judged = [v for v in verdicts.values() if v in ("better", "worse", "no_better")]
    better = sum(v == "better" for v in judged)
    return AuditReport.model_validate(
        {
            "audited_at": audited_at.isoformat(),
            "live_version": len(VERSIONS),
            "alpha": 0.05,
            "min_trades": 30,
            "versions": versions,
            "accuracy": {
                "judged": len(judged),
                "better": better,
                "worse": sum(v == "worse" for v in judged),
                "no_better": sum(v == "no_better" for v in judged),
                "young": sum(v == "young" for v in verdicts.values()),
                "unaudited": sum(v == "unaudited" for v in verdicts.values()),
                "share_better": better / len(judged) if judged else None,
            },
            "stability": [
                {
                    "regime": "ranging",
                    "parameter": "leverage",
                    "sessions": ["s1", "s2", "s3", "s4"],
                    "times": [(START + timedelta(days=8 * n)).isoformat() for n in range(4)],
                    "values": [2.2, 2.4, 2.2, 2.4],
                    "mean_move": 0.087,
                    "reversals": 2,
                },
            ],
        }
    )


def build_store(folder: Path) -> Built:
    """The store in ``folder`` (its live playbook beside it), filled as the module docstring says."""
    clock = Clock(START)
    path, live = folder / "store.sqlite", folder / "playbook.yaml"
    sessions, decisions, quality = {}, {}, {}
    with Store(path, clock=clock) as store:
        for n, (leverage, max_hold, ranging_rr, days) in enumerate(VERSIONS):
            clock.now = START + timedelta(days=days)
            text = PLAYBOOK.format(leverage=leverage, max_hold=max_hold, ranging_rr=ranging_rr)
            store.publish_playbook(live, text, author="cli" if n else "import", reason=f"version {n + 1}")
            created = clock.now + timedelta(hours=6)
            session, items = _session(n, created)
            statuses = (
                ["applied", "rejected", "pending", "pending"][: len(items)] if n < 3 else ["pending"] * len(items)
            )
            record = SessionRecord(
                session.session_id, created, created + timedelta(days=1), "pending", n + 1, session.stored()
            )
            store.save_session(
                record,
                [
                    RecommendationRecord(
                        item, session.session_id, regime, parameter, current, proposed, "medium", 0.9, status, {}
                    )
                    for (item, regime, parameter, current, proposed), status in zip(items, statuses, strict=True)
                ],
            )
            sessions[session.session_id] = (len(session.recommendations), len(session.rejected))
            decisions[session.session_id] = {s: statuses.count(s) for s in set(statuses)}
            quality[session.session_id] = 70.0 + 5 * n
        first = _audit(START + timedelta(days=17), {2: "better", 3: "young"})
        latest = _audit(START + timedelta(days=26), {2: "better", 3: "worse", 4: "young"})
        for report in (first, latest):
            store.save_audit(report.audited_at, report.model_dump(mode="json"))
    equity = sum(validated for validated, _ in list(sessions.values())[-3:]) - 1  # s2's r2 has no equity
    return Built(path, len(VERSIONS), sessions, decisions, quality, equity, (1, 2))
