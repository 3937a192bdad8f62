"""Replay of historical trades under candidate playbooks: numba kernels and their pandas wrapper."""

from framework.replay.engine import ReplayInputs, SweepResult, prepare, replay, replay_candidates

__all__ = ["ReplayInputs", "SweepResult", "prepare", "replay", "replay_candidates"]
