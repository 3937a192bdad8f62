"""Where a tune keeps what it computes besides the session: its searches in the configured Optuna storage,
its fitted models in a folder beside the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import framework.pipeline
from framework.config import Settings
from framework.desk import TuningDesk
from framework.models import ModelStore
from framework.pipeline import TuneFiles, TuneOutcome, run_tune
from framework.sample import SampleSet, write_sample
from framework.store import Store

COMMAND = Path(sys.executable).parent / "playbook-tuner"
FAST: dict[str, Any] = {
    "lookback_days": 365,
    "tuner_options": {"risk_ratio": {"trials": 5}},
    "validation": {"folds": 3, "spa_reps": 100},
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample(tmp_path_factory.mktemp("storage"), seed=5, symbols=2, days=40)


def files(sample: SampleSet, store: Path) -> TuneFiles:
    return TuneFiles(sample.trades, sample.prices, sample.playbook, sample.signals, store)


def without_ids(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in {"session_id", "created_at", "expires_at"}}


@pytest.fixture(scope="module")
def tunes(sample: SampleSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tune in memory, one with a SQLite search storage, and the same again on that storage and store."""
    folder = tmp_path_factory.mktemp("tunes")
    url = f"sqlite:///{folder / 'search.db'}"
    memory = run_tune(files(sample, folder / "memory" / "store.sqlite"), Settings.model_validate(FAST))
    stored = Settings.model_validate(FAST | {"search_storage": url})
    first = run_tune(files(sample, folder / "stored" / "store.sqlite"), stored)
    names = sorted(optuna.get_all_study_names(url))
    trials = {name: len(optuna.load_study(study_name=name, storage=url).trials) for name in names}
    again = run_tune(files(sample, folder / "stored" / "store.sqlite"), stored)
    return {"folder": folder, "url": url, "memory": memory, "first": first, "again": again, "trials": trials}


def test_a_tune_searches_in_the_configured_storage_and_finds_its_studies_again(tunes: dict[str, Any]) -> None:
    assert (tunes["folder"] / "search.db").exists()
    first: TuneOutcome = tunes["first"]
    trials: dict[str, int] = tunes["trials"]
    windows = {name.rsplit("-", 1)[1] for name in trials}
    assert len(windows) == first.report.folds + 1  # every fold and the final pass searched in a study of its own
    assert all(count > 0 for count in trials.values())
    assert not [r for r in first.report.refused if "could not run" in r.reason]
    assert without_ids(first.document) == without_ids(tunes["memory"].document)  # the storage changes nothing
    again = {name: len(optuna.load_study(study_name=name, storage=tunes["url"]).trials) for name in trials}
    assert sorted(optuna.get_all_study_names(tunes["url"])) == sorted(trials) and again == trials  # found, reused
    assert without_ids(tunes["again"].document) == without_ids(first.document)


def test_a_tune_saves_the_models_of_its_final_pass_beside_the_store(tunes: dict[str, Any]) -> None:
    folder: Path = tunes["folder"]
    first, again = tunes["first"].report.final_pass.saved_models, tunes["again"].report.final_pass.saved_models
    assert [saved.path.name for saved in first] == ["leverage-efficiency-v1.joblib"]
    assert [saved.path for saved in again] == [folder / "stored" / "models" / "leverage-efficiency-v2.joblib"]
    model, saved = ModelStore(folder / "stored" / "models").load("leverage-efficiency")
    assert saved.version == 2 and hasattr(model, "predict")
    assert saved.report == tunes["again"].report.final_pass.saved_models[0].report
    assert (folder / "memory" / "models" / "leverage-efficiency-v1.joblib").exists()


def test_the_tune_command_takes_the_storage_option_over_the_config_and_says_where_the_models_are(
    sample: SampleSet, tmp_path: Path
) -> None:
    config = tmp_path / "fast.toml"
    config.write_text(
        f'lookback_days = 365\nsearch_storage = "sqlite:///{tmp_path / "config.db"}"\n'
        "[tuner_options]\nrisk_ratio = {trials = 5}\n[validation]\nfolds = 3\nspa_reps = 100\n"
    )
    result = subprocess.run(
        [
            str(COMMAND), "tune", "--trades", str(sample.trades), "--prices", str(sample.prices),
            "--playbook", str(sample.playbook), "--store", str(tmp_path / "bot" / "store.sqlite"),
            "--storage", f"sqlite:///{tmp_path / 'option.db'}", "--config", str(config), "--json", "-",
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trades_analyzed"] > 0
    assert (tmp_path / "option.db").exists() and not (tmp_path / "config.db").exists()
    models = tmp_path / "bot" / "models" / "leverage-efficiency-v1.joblib"
    assert f"model saved: {models} (version 1)" in result.stderr
    assert models.exists()


def test_a_storage_that_cannot_be_opened_stops_tune_and_propose_before_any_work(
    sample: SampleSet, tmp_path: Path
) -> None:
    config = tmp_path / "unreachable.toml"
    config.write_text('search_storage = "postgresql://tuner:s3cret@127.0.0.1:9/studies"\n')  # nothing on port 9
    store = tmp_path / "store.sqlite"
    result = subprocess.run(
        [
            str(COMMAND), "tune", "--trades", str(sample.trades), "--prices", str(sample.prices),
            "--playbook", str(sample.playbook), "--store", str(store), "--config", str(config),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "error: postgresql://tuner:***@127.0.0.1:9/studies: cannot open this storage" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert "could not run" not in result.stdout + result.stderr  # not one failed search per regime and window
    with Store(store) as opened:  # the audit before the tune opened the store; nothing went into it
        assert opened.sessions() == []
    proposed = subprocess.run(
        [
            str(COMMAND), "propose", "--trades", str(sample.trades), "--prices", str(sample.prices),
            "--playbook", str(sample.playbook), "--config", str(config),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proposed.returncode == 2, proposed.stderr
    assert "error: postgresql://tuner:***@127.0.0.1:9/studies: cannot open this storage" in proposed.stderr
    assert "loading the trade log" not in proposed.stdout + proposed.stderr  # refused before any work


def test_the_bots_tunes_use_the_configured_storage_and_keep_their_models_beside_its_store(
    sample: SampleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def gate(*args: Any, **options: Any) -> None:
        seen.update(options)
        raise Stop

    monkeypatch.setattr(framework.pipeline, "run_gate", gate)
    desk_files = files(sample, tmp_path / "store.sqlite")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    desk = TuningDesk(desk_files, Settings.model_validate(FAST | {"search_storage": url}))
    with pytest.raises(Stop):
        desk.tune()
    assert seen["search_storage"] == url
    assert seen["model_store"].directory == tmp_path / "models" == desk_files.models_path


def test_workers_join_a_tunes_searches_with_its_signal_log_and_replay_exactly_its_windows(
    tunes: dict[str, Any], sample: SampleSet
) -> None:
    from framework.search import load_search_data
    from framework.search.storage import check_same_replay, stored_spec

    url: str = tunes["url"]
    studies = {name: optuna.load_study(study_name=name, storage=url) for name in optuna.get_all_study_names(url)}
    refs = {name: stored_spec(study, url).data for name, study in studies.items()}
    assert all(ref is not None and ref.signals == str(sample.signals.resolve()) for ref in refs.values())
    windows = {ref.exits_before for ref in refs.values() if ref is not None}  # anchored: they differ in their ends
    assert len(windows) == tunes["first"].report.folds + 1  # each fold's window and the final pass's
    rebuilt: dict[str | None, Any] = {}
    for name, ref in refs.items():  # every study's window rebuilt from its reference passes the same-replay check
        assert ref is not None
        if ref.exits_before not in rebuilt:
            rebuilt[ref.exits_before] = load_search_data(ref)
        check_same_replay(studies[name], url, *rebuilt[ref.exits_before])

    name = max(studies, key=lambda n: refs[n].exits_before or "")  # the final pass's window, signals and all
    before = len(studies[name].trials)
    result = subprocess.run(
        [str(COMMAND), "worker", "--study", name, "--storage", url, "--trials", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    after = optuna.load_study(study_name=name, storage=url).trials
    assert len(after) == before + 3
    assert {t.user_attrs["worker_pid"] for t in after[before:]} != {t.user_attrs["worker_pid"] for t in after[:before]}
