"""Audit reports built by hand for the texts' tests (known numbers, no replay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from framework.audit_report import AuditReport


def side(trades: int, growth: float) -> dict[str, Any]:
    return {"trades_taken": trades, "log_growth": growth, "total_return": growth, "max_drawdown": -0.05}


def realised(effect: float, low: float, high: float, trades: int = 212, kind: str = "growth") -> dict[str, Any]:
    return {
        "kind": kind,
        "trades": trades,
        "days": 30.0,
        "effect": effect,
        "interval": [low, high],
        "p_better": 0.99 if effect < 0 else 0.01,
        "p_worse": 0.01 if effect < 0 else 0.99,
        "clusters": 28,
        "version": side(trades, 0.1),
        "replaced": side(trades, 0.2),
    }


def version(number: int, verdict: str, **fields: Any) -> dict[str, Any]:
    return {
        "version": number,
        "replaced": number - 1,
        "live_from": (datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(days=number - 1)).isoformat(),
        "live_until": None,
        "author": "telegram:1001",
        "reason": f"session 2026030{number} applied",
        "changes": [{"regime": "ranging", "parameter": "stop_loss", "before": 0.02, "after": 0.03}],
        "verdict": verdict,
        "note": f"the note of version {number}",
        **fields,
    }


def report(**fields: Any) -> AuditReport:
    """Versions 5 (better), 6 (young, judgeable on 2026-05-01) and 7 (worse, live)."""
    document: dict[str, Any] = {
        "audited_at": "2026-04-10T08:00:00+00:00",
        "live_version": 7,
        "alpha": 0.05,
        "min_trades": 30,
        "versions": [
            version(
                5,
                "better",
                live_until="2026-03-06T12:00:00+00:00",
                realised=realised(0.0015, 0.0004, 0.0026, trades=180),
                prediction={
                    "session_id": "20260305-120000-aa01",
                    "items": ["r1"],
                    "kind": "growth",
                    "effect": 0.0012,
                    "interval": [0.0002, 0.0022],
                },
            ),
            version(
                6,
                "young",
                live_until="2026-03-07T12:00:00+00:00",
                realised=realised(0.0003, -0.002, 0.0026, trades=12),
                judgeable_at="2026-05-01T00:00:00+00:00",
            ),
            version(
                7,
                "worse",
                realised=realised(-0.0021, -0.0035, -0.0007),
                prediction={
                    "session_id": "20260307-120000-bb02",
                    "items": ["r1", "r2"],
                    "kind": "growth",
                    "effect": 0.0010,
                    "interval": [0.0001, 0.0019],
                },
            ),
        ],
        "accuracy": {
            "judged": 2,
            "better": 1,
            "worse": 1,
            "no_better": 0,
            "young": 1,
            "unaudited": 0,
            "share_better": 0.5,
        },
        "stability": [
            {
                "regime": "ranging",
                "parameter": "stop_loss",
                "sessions": ["s1", "s2", "s3"],
                "times": ["2026-03-01T00:00:00+00:00", "2026-03-05T00:00:00+00:00", "2026-03-07T00:00:00+00:00"],
                "values": [0.02, 0.03, 0.025],
                "mean_move": 0.33,
                "reversals": 1,
            },
            {
                "regime": "trending_up",
                "parameter": "leverage",
                "sessions": ["s1", "s2"],
                "times": ["2026-03-01T00:00:00+00:00", "2026-03-05T00:00:00+00:00"],
                "values": [3.0, 3.1],
                "mean_move": 0.033,
                "reversals": 0,
            },
        ],
        **fields,
    }
    return AuditReport.model_validate(document)
