"""The typed session: JSON round trips, the tolerant reader of older layouts, the store, and the charts of a
stored session."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework.errors import PlaybookTunerError
from framework.report import session_charts
from framework.session import Assessment, Session
from framework.store import SessionRecord, Store

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
DAYS = [T0 + timedelta(days=n) for n in range(5)]


def _document() -> dict[str, Any]:
    """A session as ``tune`` stores it now, with one validated change, one rejection and one refusal."""
    metrics = {"total_return": 0.12, "sharpe": 1.4, "trades_taken": 120.0}
    return {
        "session_id": "s1",
        "created_at": T0.isoformat(),
        "expires_at": (T0 + timedelta(hours=24)).isoformat(),
        "trades_analyzed": 1234,
        "lookback_days": 90,
        "headline": None,
        "data_quality": {"score": 81.5, "parts": {"completeness": 90.0}},
        "out_of_sample_by_regime": {"ranging": 410, "volatile": 90},
        "search_trades": 800,
        "holdout_trades": 200,
        "folds": 4,
        "layout": "4 walk-forward folds and a holdout",
        "out_of_sample_days": 40,
        "recommendations": [
            {
                "id": "r1",
                "regime": "ranging",
                "parameter": "leverage",
                "current": 2.0,
                "proposed": 2.6,
                "risk": "high",
                "confidence": 0.99,
                "tuner": "leverage",
                "rationale": "more leverage in ranging markets",
                "change_pct": 30.0,
                "model": {"r2": 0.2, "mae": 0.01},
                "validation": {
                    "accepted": True,
                    "reason": "validated out of sample",
                    "p_value": 0.01,
                    "dsr": 0.97,
                    "n_trials": 40,
                    "out_of_sample_trades": 410,
                    "own_trades": {
                        "scope": "ranging trades",
                        "trades": 410,
                        "baseline": {"taken": 400, "win_rate": 0.5, "mean_return": 0.001, "pnl": 10.0},
                        "candidate": {"taken": 400, "win_rate": 0.5, "mean_return": 0.002, "pnl": 20.0},
                    },
                    "evidence": {"test": "paired log growth", "interval": [0.001, 0.02], "fold_values": [2.4, None]},
                    "baseline": metrics,
                    "candidate": {**metrics, "total_return": 0.19},
                    "in_sample": {"baseline": metrics, "candidate": metrics},
                },
            }
        ],
        "rejected": [
            {
                "regime": "volatile",
                "parameter": "stop_loss",
                "current": 0.02,
                "proposed": "48h",
                "tuner": "risk_ratio",
                "rationale": None,
                "change_pct": None,
                "model": None,
                "validation": {"accepted": False, "p_value": 0.4},
                "reason": "no significant out-of-sample improvement",
            },
            {"regime": None, "parameter": "leverage", "tuner": "x", "reason": "outside its bounds"},
        ],
        "charts": {
            "equity": [
                {
                    "item": "r1",
                    "days": [day.isoformat() for day in DAYS],
                    "baseline": [10_000.0, 10_100.0, 10_050.0, 10_200.0, 10_300.0],
                    "candidate": [10_000.0, 10_150.0, 10_100.0, 10_400.0, 10_500.0],
                }
            ],
            "regime_days": [DAYS[0].isoformat(), DAYS[2].isoformat()],
            "regimes": ["ranging", "volatile"],
        },
    }


def _old_document() -> dict[str, Any]:
    """A session stored before rationales, own trades, evidence, headlines, the gate's layout and the equity
    series were kept."""
    document = copy.deepcopy(_document())
    for key in ("lookback_days", "headline", "out_of_sample_by_regime", "layout", "out_of_sample_days", "charts"):
        del document[key]
    validation = document["recommendations"][0]["validation"]
    del document["recommendations"][0]["rationale"]
    for key in ("own_trades", "evidence", "in_sample", "reason", "out_of_sample_trades"):
        del validation[key]
    return document


def test_a_session_round_trips_through_json_with_its_layout() -> None:
    session = Session.parse(_document())
    again = Session.parse(json.loads(json.dumps(session.stored())))
    assert again == session
    assert session.stored() == _document()  # the same keys, times written as given
    assert session.document() == {k: v for k, v in _document().items() if k != "charts"}
    assert set(session.rejected[1].stored()) == {"regime", "parameter", "tuner", "reason"}
    parts = ("tuner", "rationale", "change_pct", "model", "validation")
    assert session.recommendations[0].assessment() == {key: _document()["recommendations"][0][key] for key in parts}


def test_an_older_layout_reads_and_is_written_back_in_its_own_layout() -> None:
    session = Session.parse(_old_document())
    rec = session.recommendations[0]
    assert rec.rationale is None and rec.validation is not None and rec.validation.own_trades is None
    assert rec.validation.evidence == {} and session.charts is None and session.headline is None
    assert session.stored() == _old_document()


def test_a_store_row_without_id_or_times_takes_them_from_the_row(tmp_path: Path) -> None:
    document = {"trades_analyzed": 500, "data_quality": {"score": 91.0}, "rejected": [{}]}
    record = SessionRecord("s2", T0, T0 + timedelta(hours=1), "pending", 1, document)
    session = Session.from_record(record)
    assert (session.session_id, session.created_at, session.expires_at) == ("s2", T0, T0 + timedelta(hours=1))
    assert session.recommendations == () and session.rejected[0].reason is None


def test_non_finite_numbers_become_null() -> None:
    document = _document()
    validation = document["recommendations"][0]["validation"]
    validation["dsr"], validation["candidate"]["sharpe"] = math.nan, math.inf
    validation["evidence"]["interval"] = [np.float64("nan"), 0.02]
    stored = Session.parse(document).stored()["recommendations"][0]["validation"]
    assert stored["dsr"] is None and stored["candidate"]["sharpe"] is None
    assert stored["evidence"]["interval"] == [None, 0.02]
    json.dumps(stored, allow_nan=False)


def test_a_malformed_session_names_the_field() -> None:
    broken = _document()
    del broken["recommendations"][0]["risk"]
    with pytest.raises(ValueError, match=r"recommendations\.0\.risk"):
        Session.parse(broken)
    broken = _document()
    broken["charts"]["equity"][0]["baseline"].pop()
    with pytest.raises(ValueError, match="differ in length"):
        Session.parse(broken)
    with pytest.raises(ValueError, match=r"validation\.p_value"):
        Assessment.parse({"validation": {"p_value": "low"}})
    with pytest.raises(ValueError, match=r"validation\.evidence"):
        Assessment.parse({"validation": {"evidence": ["not", "a", "mapping"]}})


def test_the_store_keeps_the_typed_session(tmp_path: Path) -> None:
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text("default:\n  leverage: 2\n")
    session = Session.parse(_document())
    with Store(tmp_path / "store.sqlite") as store:
        version = store.register_live_playbook(playbook)
        record = SessionRecord("s1", T0, T0 + timedelta(hours=24), "pending", version.version, session.stored())
        store.save_session(record, [])
        assert Session.from_record(store.session("s1")) == session


def test_a_stored_session_draws_its_charts_again() -> None:
    (chart,) = session_charts(Session.parse(json.loads(json.dumps(_document()))))
    assert chart.title == "ranging.leverage 2 -> 2.6 (out of sample)"
    assert list(chart.baseline.index) == DAYS
    assert list(chart.candidate) == _document()["charts"]["equity"][0]["candidate"]
    assert chart.regimes is not None and list(chart.regimes) == ["ranging", "volatile"]
    assert str(chart.baseline.index.tz) == "UTC"


def test_a_session_stored_without_equity_series_says_why_it_has_no_charts() -> None:
    with pytest.raises(PlaybookTunerError, match=r"session s1 was stored without the equity series of r1"):
        session_charts(Session.parse(_old_document()))
    assert session_charts(Session.parse({**_old_document(), "recommendations": []})) == []
