"""The tune pipeline end to end through the command line: tune -> JSON and report -> apply -> rollback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from framework.playbook import load_playbook
from framework.sample import write_sample

COMMAND = Path(sys.executable).parent / "playbook-tuner"
JSON_KEYS = {"session_id", "created_at", "expires_at", "trades_analyzed", "data_quality", "recommendations", "rejected"}
ITEM_KEYS = {"id", "regime", "parameter", "current", "proposed", "change_pct", "risk", "confidence", "tuner", "model"}
VALIDATION_KEYS = {"accepted", "p_value", "dsr", "n_trials", "baseline", "candidate"}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    directory = write_sample(tmp_path_factory.mktemp("tune"), seed=7, days=120).directory
    store = directory / "store.sqlite"
    result = run(
        "tune",
        "--trades", directory / "trades.csv",
        "--prices", directory / "prices",
        "--playbook", directory / "playbook.yaml",
        "--store", store,
        "--json", directory / "session.json",
        "--report", directory / "report.html",
        "--config", _fast_config(directory),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "validated changes" in result.stdout and "rejected (" in result.stdout
    return directory, json.loads((directory / "session.json").read_text())


def _fast_config(directory: Path) -> Path:
    path = directory / "fast.toml"
    path.write_text("lookback_days = 365\n[tuner_options]\nrisk_ratio = {trials = 15}\n")
    return path


def test_the_json_document_keeps_its_contract(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, document = tuned
    assert set(document) >= JSON_KEYS
    assert set(document["data_quality"]) == {"score", "parts"}
    assert document["recommendations"], "the planted sample yields validated changes"
    for item in document["recommendations"]:
        assert set(item) >= ITEM_KEYS
        assert set(item["validation"]) >= VALIDATION_KEYS and item["validation"]["accepted"] is True
        assert item["confidence"] == pytest.approx(1 - item["validation"]["p_value"])
    assert all(entry["reason"] for entry in document["rejected"])


def test_every_recommendation_was_replayed_in_vectorbt_and_agrees(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    for item in document["recommendations"]:
        check = item["validation"]["evidence"]["vectorbt"]
        assert check["agree"] is True and check["disagreeing"] == 0 and not check["disagreements"]
        assert check["compared"]["current"] > 50 and check["compared"]["changed"] > 50
        assert check["agreeing"] == check["compared"]
        assert check["largest_difference"]["exit_bar"] == 0
        assert check["largest_difference"]["exit_price"] <= 1e-9 and check["largest_difference"]["return"] <= 1e-9
    show = run("show", document["session_id"], "--store", directory / "store.sqlite")
    assert show.returncode == 0, show.stderr
    assert show.stdout.count("vectorbt agrees on every trade") == len(document["recommendations"])


def test_the_report_is_one_self_contained_file(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    html = (directory / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(document["recommendations"])
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_status_and_show_read_the_stored_session(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    status = run("status", "--store", directory / "store.sqlite")
    assert status.returncode == 0, status.stderr
    assert "sessions in the last 7 days: 1" in status.stdout
    show = run("show", document["session_id"], "--store", directory / "store.sqlite")
    assert show.returncode == 0, show.stderr
    for item in document["recommendations"]:
        assert f"{item['id']} {item['parameter']}" in show.stdout
    assert "[pending]" in show.stdout or "[applied]" in show.stdout


def test_show_draws_the_stored_sessions_report_again(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    shown = directory / "shown.html"
    result = run("show", document["session_id"], "--store", directory / "store.sqlite", "--report", shown)
    assert result.returncode == 0, result.stderr
    assert shown.read_text() == (directory / "report.html").read_text()  # the same charts, from the store


def test_apply_then_rollback_round_trip(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    store, live = directory / "store.sqlite", directory / "playbook.yaml"
    before = live.read_text()
    applied = run("apply", document["session_id"], "--store", store)
    assert applied.returncode == 0, applied.stderr
    assert "as version 2" in applied.stdout
    after = load_playbook(live)
    for item in document["recommendations"]:
        assert after.value(item["regime"], item["parameter"]) == pytest.approx(item["proposed"])
    again = run("apply", document["session_id"], "--store", store)
    assert "nothing to apply" in again.stdout  # idempotent
    rolled = run("rollback", "1", "--reason", "test", "--store", store)
    assert rolled.returncode == 0, rolled.stderr
    assert live.read_text() == before
    history = run("history", "--store", store)
    assert "rollback to version 1: test" in history.stdout


def test_validate_judges_a_hand_written_playbook(tuned: tuple[Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    directory, _ = tuned
    candidate = tmp_path / "mine.yaml"
    candidate.write_text((directory / "playbook.yaml").read_text().replace("leverage: 3.0", "leverage: 9.0"))
    result = run(
        "validate",
        "--candidate", candidate,
        "--trades", directory / "trades.csv",
        "--prices", directory / "prices",
        "--playbook", directory / "playbook.yaml",
        "--store", tmp_path / "store.sqlite",
        "--json", tmp_path / "validate.json",
        "--config", _fast_config(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "validate.json").read_text())
    judged = document["recommendations"] + document["rejected"]
    assert [(e["regime"], e["parameter"], e["tuner"]) for e in judged] == [("volatile", "leverage", "hand_written")]
    assert judged[0].get("proposed") == 9.0  # as written: no 30 % cap


@pytest.mark.shared_data
def test_tune_on_real_freqtrade_trades_says_what_it_cannot_conclude(
    tmp_path: Path, freqtrade_data: Path, real_trade_log: tuple[Path, Path]
) -> None:
    trades, playbook = real_trade_log
    result = run(
        "tune", "--trades", trades, "--prices", freqtrade_data, "--playbook", playbook, "--json", tmp_path / "s.json"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "s.json").read_text())
    assert document["trades_analyzed"] == 179
    assert document["recommendations"] == []  # 179 trades over 20 days cannot validate a change
    reasons = [entry["reason"] for entry in document["rejected"]]
    assert any(reason.startswith("not enough trades in ") for reason in reasons)
    thin = [regime for regime, n in document["out_of_sample_by_regime"].items() if n < 100]
    assert document["headline"].startswith("nothing validated: ")
    assert (
        f"{len(thin)} of 4 regimes have fewer than 100 out-of-sample trades (min_oos_trades; " in document["headline"]
    )
    assert "more days of trading" in document["headline"] and document["headline"] in result.stdout
    assert (playbook.parent / "playbook-tuner.sqlite").exists()  # the session is stored beside the playbook


def test_check_counts_a_regimes_trades_as_tune_does(tuned: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    directory, document = tuned
    result = run(
        "check",
        "--trades", directory / "trades.csv",
        "--prices", directory / "prices",
        "--config", directory / "fast.toml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = ", ".join(f"{regime} {n}" for regime, n in document["out_of_sample_by_regime"].items())
    assert f"a regime needs min_oos_trades = 100 to be changed): {expected}" in result.stdout
    assert f"within lookback_days = 365 (what tune analyses, {document['trades_analyzed']} trades)" in result.stdout


def test_tune_answers_on_a_log_just_long_enough_to_tune(tmp_path: Path) -> None:
    directory = write_sample(tmp_path, seed=7, days=30, symbols=1).directory
    lines = (directory / "trades.csv").read_text().splitlines()
    thin = tmp_path / "thin.csv"
    thin.write_text("\n".join(lines[:52]) + "\n")  # 51 trades: min_trades_for_tuning is 50
    result = run(
        "tune", "--trades", thin, "--prices", directory / "prices", "--playbook", directory / "playbook.yaml",
        "--store", tmp_path / "s.sqlite", "--json", tmp_path / "s.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "s.json").read_text())
    assert document["trades_analyzed"] == 51 and document["recommendations"] == [] and document["pending"] == []
    assert document["layout"].startswith("no walk-forward fold (")
    assert document["headline"].startswith("nothing validated: ") and "more days of trading" in document["headline"]


def test_a_last_exit_far_after_the_log_says_why_no_trade_is_in_the_lookback(tmp_path: Path) -> None:
    directory = write_sample(tmp_path, seed=7, days=30, symbols=1).directory
    header, *rows = (directory / "trades.csv").read_text().splitlines()
    columns = header.split(",")
    cells = rows[-1].split(",")
    cells[columns.index("exit_time")] = "2030-01-01T00:00:00Z"  # one mistyped exit: the lookback ends there
    odd = tmp_path / "odd.csv"
    odd.write_text("\n".join([header, *rows[:-1], ",".join(cells)]) + "\n")
    store = tmp_path / "s.sqlite"
    result = run(
        "tune", "--trades", odd, "--prices", directory / "prices", "--playbook", directory / "playbook.yaml",
        "--store", store,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no trade entered within lookback_days = 30 of the last exit (2030-01-01 00:00 UTC)" in result.stderr
    assert f"the log's {len(rows)} trades enter from " in result.stderr and "check the last exit times" in result.stderr
    assert "Traceback" not in result.stderr and "session " not in result.stdout
