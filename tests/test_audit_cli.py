"""The post-apply audit on the command line: ``audit`` (table, --json, VERSION), and the flagged version in
``status`` and before ``tune``; the installed console script in a subprocess, on a real store in which
the audit flags the live version (backtests/audit_cases.py: a planted bad change)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backtests.audit_cases import MOMENTUM_CUT, LiveCase, hand_change, with_weights
from framework.audit_report import AuditReport
from framework.store import STORE_FILE_NAME

COMMAND = Path(sys.executable).parent / "playbook-tuner"
FLAGGED = "version 2 underperforms version 1, which it replaced: log growth per trade -"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> LiveCase:
    return hand_change(tmp_path_factory.mktemp("audit") / "case", lambda playbook: with_weights(playbook, MOMENTUM_CUT))


@pytest.fixture
def folder(planted: LiveCase, tmp_path: Path) -> Path:
    """A copy of the case's logs, playbook and store; the candles stay where the sample keeps them."""
    shutil.copytree(planted.files.playbook.parent, tmp_path, dirs_exist_ok=True)
    return tmp_path


def files(planted: LiveCase, folder: Path) -> list[str | Path]:
    return [
        *("--trades", folder / planted.files.trades.name, "--signals", folder / "signals.csv"),
        *("--prices", planted.files.prices, "--playbook", folder / planted.files.playbook.name),
    ]


def test_audit_shows_the_versions_the_accuracy_and_the_stability(planted: LiveCase, folder: Path) -> None:
    result = run("audit", *files(planted, folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Applied playbook versions" in out and "2 (live)" in out and "⚠️ worse" in out
    assert "paired log-growth test" in out
    assert "version 2 (cli:planted: planted change)" in out and "strategy_weights.momentum" in out
    assert "accuracy: 0 of 0 judged changes did better (–), 0 too young" in out, "a hand edit is no recommendation"
    assert "parameter stability" in out.lower()
    assert "Traceback" not in result.stderr


def test_audit_json_is_the_report_and_version_narrows_it(planted: LiveCase, folder: Path) -> None:
    whole = run("audit", *files(planted, folder), "--json", "-")
    assert whole.returncode == 0, whole.stderr
    report = AuditReport.model_validate(json.loads(whole.stdout))
    assert report.live_version == 2 and [a.version for a in report.flagged()] == [2]
    assert json.loads(whole.stdout) == report.model_dump(mode="json")

    one = run("audit", "2", *files(planted, folder), "--json", "-")
    assert one.returncode == 0, one.stderr
    narrowed = AuditReport.model_validate(json.loads(one.stdout))
    assert [a.version for a in narrowed.versions] == [2]
    assert narrowed.accuracy == report.accuracy, "the accuracy stays the whole audit's"
    shown = run("audit", "2", *files(planted, folder))
    assert shown.returncode == 0 and "⚠️ worse" in shown.stdout

    unknown = run("audit", "99", *files(planted, folder))
    assert unknown.returncode == 2
    (line,) = unknown.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: version 99 is not an applied version of this store (audited: ")
    assert "Traceback" not in unknown.stderr


def test_status_names_the_flagged_version_and_the_rollback(planted: LiveCase, folder: Path) -> None:
    store = folder / STORE_FILE_NAME
    before = run("status", "--store", store)
    assert before.returncode == 0 and "underperforms" not in before.stdout, "no audit stored yet"
    assert run("audit", *files(planted, folder)).returncode == 0
    status = run("status", "--store", store, "--json", "-")
    assert status.returncode == 0, status.stderr
    assert FLAGGED in status.stderr and "; roll back with `playbook-tuner rollback 1`" in status.stderr
    assert [audit["version"] for audit in json.loads(status.stdout)["flagged"]] == [2]
    rolled = run("rollback", "1", "--store", store)
    assert rolled.returncode == 0, rolled.stderr
    after = run("status", "--store", store)
    assert f"{FLAGGED}" in after.stdout and "; no longer live" in after.stdout


def test_tune_audits_first_and_warns_of_the_flagged_version(planted: LiveCase, folder: Path) -> None:
    config = folder / "fast.toml"
    config.write_text("lookback_days = 365\n[tuner_options]\nrisk_ratio = {trials = 15}\n")
    result = run("tune", *files(planted, folder), "--config", config)
    assert result.returncode == 0, result.stderr
    assert "audit: 1 applied version, 1 flagged" in result.stdout or "applied versions, 1 flagged" in result.stdout
    assert f"warning: {FLAGGED}" in result.stderr
    assert "validated changes" in result.stdout


def test_an_audit_that_cannot_run_is_one_warning_and_the_tune_goes_on(planted: LiveCase, folder: Path) -> None:
    trades = pd.read_csv(folder / planted.files.trades.name)
    trades.loc[4, "entry_price"] = -3.0  # the tune drops the row (--lenient); the audit reads strictly and fails
    trades.to_csv(folder / planted.files.trades.name, index=False)
    config = folder / "fast.toml"
    config.write_text("lookback_days = 365\n[tuner_options]\nrisk_ratio = {trials = 15}\n")
    result = run("tune", *files(planted, folder), "--config", config, "--lenient")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "the audit of the applied versions could not" in line]
    assert len(warnings) == 1 and "row 5" in warnings[0] and "entry_price" in warnings[0], result.stderr
    assert "validated changes" in result.stdout and "Traceback" not in result.stderr
