"""The command line's conventions, as a script or a person meets them: exit codes, ``--json -``,
``--version`` / ``-h``, outputs checked before any work, safe-only, rollback's one meaning, status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from framework.sample import write_sample

COMMAND = Path(sys.executable).parent / "playbook-tuner"
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def pending(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, subprocess.CompletedProcess[str]]:  # type: ignore[type-arg]
    """A tuned sample whose session is still pending, its document read from ``--json -``."""
    directory = write_sample(tmp_path_factory.mktemp("conventions"), seed=7, days=120).directory
    config = directory / "fast.toml"
    config.write_text("lookback_days = 365\n[tuner_options]\nrisk_ratio = {trials = 15}\n")
    result = run(
        "tune",
        "--trades", directory / "trades.csv",
        "--prices", directory / "prices",
        "--playbook", directory / "playbook.yaml",
        "--store", directory / "store.sqlite",
        "--config", config,
        "--json", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return directory, json.loads(result.stdout), result


def test_json_dash_is_the_document_on_stdout_alone(pending: tuple[Path, dict, object]) -> None:  # type: ignore[type-arg]
    directory, document, _ = pending
    assert not (Path.cwd() / "-").exists() and not (directory / "-").exists()
    assert document["recommendations"], "the planted sample validates changes"
    assert document["pending"] == [item["id"] for item in document["recommendations"]]
    assert document["lookback_days"] == 365


def test_tune_shows_its_stages_as_lines_without_spinner_frames_when_piped(
    pending: tuple[Path, dict, subprocess.CompletedProcess[str]],  # type: ignore[type-arg]
) -> None:
    _, _, result = pending
    assert not any(frame in result.stderr + result.stdout for frame in SPINNER_FRAMES)
    for stage in ("fold 1 of 5", "fold 5 of 5", "final pass on the search window", ": leverage", ": risk_ratio"):
        assert stage in result.stderr
    assert "validated changes" in result.stderr  # the human summary moved to stderr beside the document


def test_status_history_and_show_answer_in_json(pending: tuple[Path, dict, object]) -> None:  # type: ignore[type-arg]
    directory, document, _ = pending
    store = directory / "store.sqlite"
    status = run("status", "--store", store, "--json", "-")
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)["sessions"]
    assert row["session_id"] == document["session_id"] and row["status"] == "pending"
    assert row["validated_changes"] == row["pending_changes"] == len(document["recommendations"])
    table = run("status", "--store", store)
    assert document["session_id"] in table.stdout and "pending" in table.stdout
    history = json.loads(run("history", "--store", store, "--json", "-").stdout)
    assert [v["version"] for v in history["versions"]] == [1]
    shown = json.loads(run("show", document["session_id"], "--store", store, "--json", "-").stdout)
    assert shown["session_id"] == document["session_id"]
    assert set(shown["statuses"].values()) == {"pending"}


def test_safe_only_with_items_never_applies_a_risky_change(pending: tuple[Path, dict, object]) -> None:  # type: ignore[type-arg]
    directory, document, _ = pending
    risky = next(item for item in document["recommendations"] if item["risk"] != "low")
    before = (directory / "playbook.yaml").read_bytes()
    result = run(
        "apply", document["session_id"], "--safe-only", "--items", risky["id"], "--store", directory / "store.sqlite"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"not {risky['id']} ({risky['risk']} risk)" in result.stdout
    assert (directory / "playbook.yaml").read_bytes() == before


def test_exit_codes_done_refused_and_bad_input(pending: tuple[Path, dict, object]) -> None:  # type: ignore[type-arg]
    directory, document, _ = pending
    store = directory / "store.sqlite"
    applied = run("apply", document["session_id"], "--store", store)
    assert applied.returncode == 0, applied.stderr
    again = run("apply", document["session_id"], "--store", store)
    assert again.returncode == 1 and "nothing to apply" in again.stdout
    unknown = run("apply", "no-such-session", "--store", store)
    assert unknown.returncode == 2 and "no-such-session" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_rollback_without_a_version_undoes_once_and_never_redoes(pending: tuple[Path, dict, object]) -> None:  # type: ignore[type-arg]
    directory, _, _ = pending
    store, live = directory / "store.sqlite", directory / "playbook.yaml"
    first = json.loads(run("history", "--store", store, "--json", "-").stdout)["versions"][0]
    undone = run("rollback", "--store", store)
    assert undone.returncode == 0, undone.stderr
    assert "rolled back to version 1: now version 3" in undone.stdout
    again = run("rollback", "--store", store)
    assert again.returncode == 1
    assert "nothing to roll back: the live version 3 holds the text of version 1" in again.stdout
    versions = json.loads(run("history", "--store", store, "--json", "-").stdout)["versions"]
    assert len(versions) == 3 and versions[-1]["sha256"] == first["sha256"]
    assert live.read_text(encoding="utf-8")  # the live file is whole


def test_a_wrong_output_path_is_refused_before_any_work(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    result = run("tune", "--report", tmp_path / "no" / "such" / "r.html", "--store", store)
    assert result.returncode == 2
    assert "--report" in result.stderr and "does not exist; nothing was done" in result.stderr
    assert "using the embedded sample" not in result.stdout  # refused before the inputs were even read
    assert not store.exists()


def test_version_and_short_help() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("playbook-tuner ")
    short = run("-h")
    assert short.returncode == 0 and "tune" in short.stdout and "Exit status" in short.stdout
