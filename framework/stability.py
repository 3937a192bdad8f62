"""Parameter stability: how much each parameter's recommended value moved across tuning sessions.

A session's recommended value of a parameter is its tuners' proposal there, validated or not (the gate
accepts few, and a tuner that swings from one session to the next is worth seeing before any of its
proposals passes). Only numbers are compared; durations and tables are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from framework.audit_report import ParameterStability
from framework.session import Session


def parameter_stability(sessions: Sequence[Session]) -> tuple[ParameterStability, ...]:
    """Each (regime, parameter) some session proposed a number for, with its values oldest first."""
    series: dict[tuple[str, str], list[tuple[datetime, str, float]]] = {}
    for session in sorted(sessions, key=lambda s: s.created_at):
        seen = set()
        proposals = [(r.regime, r.parameter, r.proposed) for r in session.recommendations] + [
            (r.regime, r.parameter, r.proposed) for r in session.rejected
        ]
        for regime, parameter, proposed in proposals:
            if regime is None or parameter is None or (regime, parameter) in seen:
                continue
            if not isinstance(proposed, int | float):
                continue
            seen.add((regime, parameter))
            series.setdefault((regime, parameter), []).append((session.created_at, session.session_id, float(proposed)))
    return tuple(_stability(regime, parameter, points) for (regime, parameter), points in sorted(series.items()))


def _stability(regime: str, parameter: str, points: list[tuple[datetime, str, float]]) -> ParameterStability:
    values = [value for _, _, value in points]
    moves = [(later - earlier) / abs(earlier) for earlier, later in itertools.pairwise(values) if earlier != 0]
    signs = [1 if b > a else -1 for a, b in itertools.pairwise(values) if b != a]
    return ParameterStability(
        regime=regime,
        parameter=parameter,
        sessions=tuple(session for _, session, _ in points),
        times=tuple(time for time, _, _ in points),
        values=tuple(values),
        mean_move=sum(abs(m) for m in moves) / len(moves) if moves else None,
        reversals=sum(a != b for a, b in itertools.pairwise(signs)),
    )
