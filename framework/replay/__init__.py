"""Replay of historical trades under candidate playbooks: numba kernels and their pandas wrapper."""

from framework.replay.engine import (
    CandidateTables,
    ReplayInputs,
    SweepResult,
    candidate_tables,
    prepare,
    replay,
    replay_candidates,
    replay_tables,
    select,
    tables_for_changes,
)

__all__ = [
    "CandidateTables",
    "ReplayInputs",
    "SweepResult",
    "candidate_tables",
    "prepare",
    "replay",
    "replay_candidates",
    "replay_tables",
    "select",
    "tables_for_changes",
]
