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


REAL_PLAYBOOK = (
    "default:\n  leverage: 1.0\n  stop_loss: 0.05\n  risk_reward_ratio: 1.0\n"
    "  confidence_threshold: 0.5\n  position_size: 0.1\n  max_hold: 12h\n"
)
"""A plain playbook for the real freqtrade trades (spot, no leverage)."""


@pytest.fixture(scope="session")
def real_trade_log(freqtrade_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """freqtrade's 179-trade backtest export as our trade log, and a playbook for it: (trades, playbook)."""
    from framework.config import FreqtradeImportSettings
    from framework.freqtrade import import_freqtrade
    from framework.trades import write_log

    folder = tmp_path_factory.mktemp("real")
    export = freqtrade_data / "backtest_results" / "backtest-result.json"
    write_log(import_freqtrade(export, FreqtradeImportSettings()).log.frame, folder / "trades.csv")
    (folder / "playbook.yaml").write_text(REAL_PLAYBOOK)
    return folder / "trades.csv", folder / "playbook.yaml"


@pytest.fixture(scope="session")
def freqtrade_backtests(freqtrade_data: Path) -> Path:
    """The shared freqtrade candles, for tests that run real freqtrade backtests through
    tests/freqtrade_harness; skip (or fail under CI=true) when freqtrade is not installed."""
    import importlib.util

    if importlib.util.find_spec("freqtrade") is None:
        message = "freqtrade is not installed (the dev extra installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return freqtrade_data


POSTGRES_ENV_VAR = "PLAYBOOK_TUNER_TEST_POSTGRES"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the throwaway PostgreSQL server .ci/run starts (.ci/postgres.sh), from
    $PLAYBOOK_TUNER_TEST_POSTGRES; skip (or fail under CI=true) when it is not set."""
    url = os.environ.get(POSTGRES_ENV_VAR)
    if not url:
        message = f"no PostgreSQL server to test on (${POSTGRES_ENV_VAR} is not set; .ci/run starts one)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return url
