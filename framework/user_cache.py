"""The user's cache folder for playbook-tuner: the embedded sample and the compiled numba kernels.

Kept apart from the modules that use it and free of heavy imports, so the CLI can find the folder
without loading numpy, pandas or numba.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache folder: ``$PLAYBOOK_TUNER_CACHE``, or ``$XDG_CACHE_HOME/playbook-tuner`` with
    ``XDG_CACHE_HOME`` defaulting to ``~/.cache``. Read from the environment at each call; not created here."""
    explicit = os.environ.get("PLAYBOOK_TUNER_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "playbook-tuner"


EMBEDDED_SAMPLE_SEED = 7
"""Seed of the embedded sample that commands use when given no data."""


def embedded_sample_directory(seed: int = EMBEDDED_SAMPLE_SEED) -> Path:
    """Where the embedded sample of ``seed`` is kept: ``sample-<seed>`` in :func:`cache_root`."""
    return cache_root() / f"sample-{seed}"
