"""Tuners propose playbook changes from the bot's trades; see :class:`Tuner` for the lifecycle."""

from framework.tuners.base import NoProposal, Proposal, ReplayHandle, Tuner, TuningContext
from framework.tuners.registry import BUILTIN_TUNERS, load_tuners, tuner_class

__all__ = [
    "BUILTIN_TUNERS",
    "NoProposal",
    "Proposal",
    "ReplayHandle",
    "Tuner",
    "TuningContext",
    "load_tuners",
    "tuner_class",
]
