"""Replay of historical trades under candidate playbooks: numba kernels and their pandas wrapper."""

from framework.replay.engine import ReplayInputs, prepare, replay, replay_prepared

__all__ = ["ReplayInputs", "prepare", "replay", "replay_prepared"]
