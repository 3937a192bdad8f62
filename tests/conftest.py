"""Shared fixtures. Real market data lives in ../shared/data beside the repository.

Tests that need it take the `shared_data` fixture: it skips with a message when the folder is
absent (a user's fresh clone) and fails instead when CI=true, where the data must be present.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skip (or fail under CI=true) when it is absent."""
    if not SHARED_DATA.is_dir():
        message = f"real market data not found at {SHARED_DATA}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def freqtrade_data(shared_data: Path) -> Path:
    """The freqtrade folder of the shared data (candles in freqtrade's layout)."""
    return shared_data / "freqtrade"
