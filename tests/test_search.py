"""Optuna search over the replay: budget, seeding, constraints, storages and shared worker processes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from framework.config import ReplaySettings
from framework.errors import InputError
from framework.playbook import ParameterChange, Playbook
from framework.regimes import REGIMES
from framework.replay import ReplayInputs, replay_tables, tables_for_changes
from framework.sample import SampleSet, write_sample
from framework.search import (
    NON_FINITE_OBJECTIVE,
    DataRef,
    ReplayObjective,
    SearchSpec,
    load_search_data,
    open_study,
    run_search,
    run_worker,
    storage_from_url,
)
from framework.search.storage import shown_url, stored_spec

REPO = Path(__file__).resolve().parents[1]
SPACE = {"risk_reward_ratio": (0.5, 5.0), "stop_loss": (0.01, 0.05)}

Data = tuple[ReplayInputs, Playbook, ReplaySettings]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample(tmp_path_factory.mktemp("search"), days=30)


@pytest.fixture(scope="module")
def ref(sample: SampleSet) -> DataRef:
    return DataRef(trades=str(sample.trades), prices=str(sample.prices), playbook=str(sample.playbook))


@pytest.fixture(scope="module")
def data(ref: DataRef) -> Data:
    return load_search_data(ref)


BASE_SPEC = SearchSpec(study_name="base", regime="ranging", space=SPACE, n_trials=20)


def spec_for(name: str, **changes: Any) -> SearchSpec:
    return replace(BASE_SPEC, study_name=name, **changes)


# --- in-process search -------------------------------------------------------------------------------


def test_search_stays_in_space_honours_budget_and_scores_by_replay(data: Data) -> None:
    inputs, base, settings = data
    result = run_search(spec_for("budget", n_trials=25), inputs, base, settings)

    assert result.n_trials == 25 == len(result.trials)
    assert list(result.trials.columns) == [
        "number",
        "risk_reward_ratio",
        "stop_loss",
        "value",
        "feasible",
        "state",
    ]
    assert (result.trials["state"] == "COMPLETE").all()
    for name, (low, high) in SPACE.items():
        assert result.trials[name].between(low, high).all(), name
        assert low <= result.best_params[name] <= high
    assert result.n_feasible == 25  # no floor; the sample's leverage cannot liquidate
    assert result.best_value == result.trials["value"].max()
    assert result.trials["value"].nunique() > 20  # the parameters really change the replay
    assert result.notes == ()

    # the best value is the log growth of replaying the trades with the best parameters in 'ranging'
    changes = [ParameterChange("ranging", name, value) for name, value in result.best_params.items()]
    metrics = replay_tables(inputs, tables_for_changes(inputs, base, [changes]), settings).metrics
    assert result.best_value == pytest.approx(metrics["log_growth"].iat[0], rel=1e-12)


def test_a_batch_of_trials_replayed_as_one_sweep_scores_each_point_as_replayed_alone(data: Data) -> None:
    inputs, base, settings = data
    result = run_search(spec_for("batched", n_trials=20, batch=16), inputs, base, settings)
    one_by_one = run_search(spec_for("one-by-one", n_trials=20, batch=1), inputs, base, settings)

    assert result.n_trials == one_by_one.n_trials == 20
    for _, trial in result.trials.iterrows():
        changes = [ParameterChange("ranging", name, float(trial[name])) for name in SPACE]
        alone = replay_tables(inputs, tables_for_changes(inputs, base, [changes]), settings).metrics
        assert trial["value"] == pytest.approx(alone["log_growth"].iat[0], rel=1e-12)
    # the first ten points are TPE's random start-up either way; later ones come from another posterior
    pd.testing.assert_frame_equal(result.trials.head(10), one_by_one.trials.head(10))
    with pytest.raises(InputError, match="batch"):
        spec_for("no-batch", batch=0)


def test_same_seed_gives_the_same_search_and_another_seed_another(data: Data, tmp_path: Path) -> None:
    first = run_search(spec_for("seeded", seed=3), *data)
    again = run_search(spec_for("seeded", seed=3), *data)
    in_journal = run_search(spec_for("seeded", seed=3), *data, storage=str(tmp_path / "seeded.log"))
    other = run_search(spec_for("seeded", seed=4), *data)

    assert again.best_params == first.best_params
    pd.testing.assert_frame_equal(again.trials, first.trials)
    pd.testing.assert_frame_equal(in_journal.trials, first.trials)
    assert not np.allclose(other.trials["risk_reward_ratio"], first.trials["risk_reward_ratio"])


def test_space_is_clamped_into_the_playbook_bounds_and_says_so(data: Data) -> None:
    inputs, base, settings = data
    assert base.bounds["risk_reward_ratio"] == (0.5, 6.0)
    spec = spec_for("clamped", space={"risk_reward_ratio": (0.1, 9.0)}, n_trials=15)

    result = run_search(spec, inputs, base, settings)

    assert len(result.notes) == 1
    assert "risk_reward_ratio [0.1, 9] clamped to [0.5, 6]" in result.notes[0]
    assert result.trials["risk_reward_ratio"].between(0.5, 6.0).all()
    with pytest.raises(InputError, match=r"space\.stop_loss.*outside the bounds \[0.005, 0.1\]"):
        ReplayObjective(spec_for("outside", space={"stop_loss": (0.2, 0.3)}), inputs, base, settings)


def test_drawdown_floor_nothing_meets_leaves_no_feasible_trial(data: Data) -> None:
    # every replay of 500 trades has some drawdown, so max_drawdown >= 0 is never met
    result = run_search(spec_for("floor", max_drawdown_floor=0.0, n_trials=10), *data)

    assert result.n_trials == 10
    assert result.n_feasible == 0
    assert not result.trials["feasible"].any()
    assert result.best_params == {}
    assert math.isnan(result.best_value)


def test_drawdown_floor_separates_feasible_trials(data: Data, tmp_path: Path) -> None:
    storage = f"journal://{tmp_path / 'floor.log'}"
    spec = spec_for("floor-split", regime="default", space={"position_size": (0.01, 0.5)}, max_drawdown_floor=-0.1)

    result = run_search(spec, *data, storage=storage)

    study = optuna.load_study(study_name="floor-split", storage=storage_from_url(storage))
    drawdown = {t.number: t.user_attrs["metrics"]["max_drawdown"] for t in study.get_trials()}
    feasible = dict(zip(result.trials["number"], result.trials["feasible"], strict=True))
    assert 0 < result.n_feasible < result.n_trials, "the floor should split the position sizes"
    assert all(feasible[n] == (dd >= -0.1) for n, dd in drawdown.items())
    best = result.trials.loc[result.trials["feasible"], "value"].max()
    assert result.best_value == best < result.trials["value"].max()


def test_constraint_values_and_non_finite_objective(data: Data) -> None:
    objective = ReplayObjective(spec_for("c", max_drawdown_floor=-0.3), *data)
    assert objective.constraints({"max_drawdown": -0.1, "liquidations": 0.0}) == {
        "max_drawdown_floor": pytest.approx(-0.2),
        "liquidations": 0.0,
    }
    assert objective.constraints({"max_drawdown": -0.4, "liquidations": 2.0})["liquidations"] == 2.0
    allowed = ReplayObjective(spec_for("c", allow_liquidations=True), *data)
    assert allowed.constraints({"max_drawdown": -0.4, "liquidations": 2.0}) == {}

    # with every confidence threshold at 1.0 no trade is taken and the Sharpe ratio is undefined (NaN)
    inputs, base, settings = data
    strict = base.with_changes(ParameterChange(r, "confidence_threshold", 1.0) for r in REGIMES)
    spec = spec_for("nan", regime="default", space={"confidence_threshold": (1.0, 1.0)}, objective="sharpe", n_trials=2)
    result = run_search(spec, inputs, strict, settings)
    assert result.best_value == NON_FINITE_OBJECTIVE
    assert result.n_trials == 2


# --- the spec ---------------------------------------------------------------------------------------------


def test_spec_round_trips_through_json(ref: DataRef) -> None:
    spec = spec_for("json", max_drawdown_floor=-0.25, seed=9, data=replace(ref, window_end="2026-01-20"))
    assert SearchSpec.from_json(spec.to_json()) == spec


def test_spec_problems_are_reported_together() -> None:
    with pytest.raises(InputError) as caught:
        SearchSpec(
            study_name="bad",
            regime="sideways",
            space={"max_hold": (1.0, 2.0), "stop_loss": (0.05, 0.01)},
            objective="profit",
            max_drawdown_floor=0.2,
            n_trials=0,
        )
    fields = {p.field for p in caught.value.problems}
    assert fields == {
        "regime",
        "space.max_hold",
        "space.stop_loss",
        "objective",
        "max_drawdown_floor",
        "n_trials",
    }


def test_spec_json_errors_name_the_field() -> None:
    text = spec_for("json").to_json()
    with pytest.raises(InputError, match="n_trials"):
        SearchSpec.from_json(text.replace('"n_trials":20', '"n_trials":"many"'))
    with pytest.raises(InputError, match="budget"):
        SearchSpec.from_json(text.replace('"n_trials":20', '"n_trials":20,"budget":3'))
    with pytest.raises(InputError, match=r"data\.window_start.*'yesterday' is not an ISO-8601 time"):
        DataRef(trades="t.csv", prices="p", playbook="p.yaml", window_start="yesterday")


def test_data_window_keeps_trades_entering_inside_it(ref: DataRef, data: Data) -> None:
    windowed, _, _ = load_search_data(
        replace(ref, window_start="2026-01-08T00:00:00", window_end="2026-01-15T00:00:00+00:00")
    )
    entries = pd.to_datetime(windowed.arrays["entry_ns"], utc=True)
    assert 0 < len(entries) < len(data[0].trade_id)
    assert entries.min() >= pd.Timestamp("2026-01-08", tz="UTC")
    assert entries.max() < pd.Timestamp("2026-01-15", tz="UTC")
    with pytest.raises(InputError, match="no trade enters within the window"):
        load_search_data(replace(ref, window_start="2027-01-01"))


# --- storages ---------------------------------------------------------------------------------------------


def test_storage_urls(tmp_path: Path) -> None:
    assert storage_from_url(None) is None
    assert isinstance(storage_from_url(f"sqlite:///{tmp_path / 'a.db'}"), optuna.storages.RDBStorage)
    assert (tmp_path / "a.db").is_file()
    journal = storage_from_url(f"journal://{tmp_path / 'a.log'}")
    assert isinstance(journal, optuna.storages.JournalStorage)
    assert isinstance(storage_from_url(str(tmp_path / "b.jsonl")), optuna.storages.JournalStorage)
    assert (tmp_path / "a.log").is_file() and (tmp_path / "b.jsonl").is_file()

    for bad in ("redis://localhost", "studies.txt", "", "journal://"):
        with pytest.raises(InputError, match=r"accepted: sqlite:///path/to/file\.db"):
            storage_from_url(bad)
    with pytest.raises(InputError, match="cannot open this storage"):
        storage_from_url(f"sqlite:///{tmp_path / 'missing' / 'a.db'}")
    with pytest.raises(InputError, match="cannot open the journal file"):
        storage_from_url(str(tmp_path / "missing" / "a.log"))


def test_postgresql_urls_use_psycopg_and_say_how_to_install_it_when_it_is_missing() -> None:
    # the driver import fails as it would without the postgres extra; SQLAlchemy's default, psycopg2, too
    code = (
        "import sys; sys.modules['psycopg'] = sys.modules['psycopg2'] = None\n"
        "from framework.search import storage_from_url\n"
        "storage_from_url('postgresql://tuner@127.0.0.1:9/none')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "no database driver for postgresql is installed; install the postgres extra" in result.stderr
    assert "playbook-tuner[postgres]" in result.stderr
    with pytest.raises(InputError, match="cannot open this storage"):  # psycopg is there: it tries to connect
        storage_from_url("postgresql://tuner@127.0.0.1:9/none")


def test_error_texts_never_show_a_storage_password(tmp_path: Path) -> None:
    assert (
        shown_url("postgresql://tuner:s3cret@db.example:5432/studies")
        == "postgresql://tuner:***@db.example:5432/studies"
    )
    assert shown_url("postgresql://:s3cret@db/studies") == "postgresql://:***@db/studies"
    assert shown_url("postgresql://tuner@db/studies") == "postgresql://tuner@db/studies"
    assert shown_url("journal:///tmp/a.log") == "journal:///tmp/a.log"
    with pytest.raises(InputError) as caught:  # nothing listens on port 9: the connection is refused
        storage_from_url("postgresql://tuner:s3cret@127.0.0.1:9/none")
    assert "s3cret" not in str(caught.value) and "tuner:***@127.0.0.1:9" in str(caught.value)
    for bad in ("redis://tuner:s3cret@localhost", "postgresql://tuner:s3cret@db:port/studies"):
        with pytest.raises(InputError, match="accepted: sqlite:///") as caught:
            storage_from_url(bad)
        assert "s3cret" not in str(caught.value)

    storage = f"sqlite:///{tmp_path / 'label.db'}"
    optuna.create_study(study_name="foreign", storage=storage_from_url(storage))
    with pytest.raises(InputError) as caught:  # a study not created by open_study: its label in the error
        stored_spec(optuna.load_study(study_name="foreign", storage=storage_from_url(storage)), "sqlite://u:pw@h/x")
    assert "u:***@h" in str(caught.value) and "pw@" not in str(caught.value)


def test_shared_study_resumes_and_rejects_another_spec(data: Data, ref: DataRef, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    spec = spec_for("resume", n_trials=8, data=ref)
    first = run_search(spec, *data, storage=storage)
    again = run_search(spec, *data, storage=storage)
    assert again.n_trials == first.n_trials == 8
    assert again.best_params == first.best_params

    more = run_worker("resume", storage, n_trials=3)  # three more, past the spec's budget
    assert more.n_trials == 11
    assert run_worker("resume", storage).n_trials == 11  # the budget is spent: nothing to do

    with pytest.raises(InputError, match="already exists with a different search spec"):
        run_search(replace(spec, n_trials=9), *data, storage=storage)


def test_worker_refuses_unknown_studies_and_other_data(data: Data, ref: DataRef, tmp_path: Path) -> None:
    inputs, base, settings = data
    storage = str(tmp_path / "studies.log")
    open_study(spec_for("no-data"), storage, inputs, base, settings)
    with pytest.raises(InputError, match=r"no such study .*studies there: no-data"):
        run_worker("nope", storage)
    with pytest.raises(InputError, match="no data reference"):
        run_worker("no-data", storage)

    other_fees = replace(ref, settings={"replay": {"fee": 0.001}})
    open_study(spec_for("other-fees", data=other_fees), storage, inputs, base, settings)
    with pytest.raises(InputError, match="replay settings differ"):
        run_worker("other-fees", storage)

    open_study(spec_for("other-window", data=replace(ref, window_end="2026-01-20")), storage, inputs, base, settings)
    with pytest.raises(InputError, match=r"trades or candles differ .*\(\d+ trades here, 5\d\d in the study\)"):
        run_worker("other-window", storage)


def test_worker_command_reports_input_errors(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "playbook-tuner"
    result = subprocess.run(
        [str(command), "worker", "--study", "nope", "--storage", str(tmp_path / "x.log")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no such study" in result.stderr and "Traceback" not in result.stderr


# --- worker processes ---------------------------------------------------------------------------------

# The `playbook-tuner worker` command, run so that each worker, once it holds its first batch of
# claimed trials, waits for the other before replaying: a worker that starts late (imports, cached
# kernels loading on a busy machine) would otherwise find the budget taken and prove nothing.
_WORKER_MEETING_THE_OTHER = """
import os, sys, time
from pathlib import Path
from framework.search import runner

meeting = Path(sys.argv[1])
score = runner.ReplayObjective.score

def score_after_meeting(self, trials):
    if not getattr(self, "met", False):
        (meeting / str(os.getpid())).touch()
        deadline = time.monotonic() + 90
        while len(list(meeting.iterdir())) < 2:
            if time.monotonic() > deadline:
                raise SystemExit("the other worker never came")
            time.sleep(0.01)
        self.met = True
    return score(self, trials)

runner.ReplayObjective.score = score_after_meeting
sys.argv = ["playbook-tuner", *sys.argv[2:]]
from framework.cli import main
main()
"""


@pytest.mark.parametrize(("kind", "n_trials"), [("journal", 80), ("sqlite", 30), ("postgresql", 60)])
def test_two_worker_processes_share_one_budget(
    kind: str, n_trials: int, data: Data, ref: DataRef, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = {
        "journal": lambda: f"journal://{tmp_path / 'shared.log'}",
        "sqlite": lambda: f"sqlite:///{tmp_path / 'shared.db'}",
        "postgresql": lambda: request.getfixturevalue("postgres_url"),  # the server .ci/run starts
    }[kind]()
    # a server outlives the test run: a study name of its own each time
    spec = spec_for(f"shared-{kind}-{uuid.uuid4().hex[:8]}", n_trials=n_trials, data=ref)
    open_study(spec, storage, *data)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    command = [
        sys.executable,
        "-c",
        _WORKER_MEETING_THE_OTHER,
        str(meeting),
        "worker",
        "--study",
        spec.study_name,
        "--storage",
        storage,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=180) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert f"study {spec.study_name}:" in out, out

    trials = optuna.load_study(study_name=spec.study_name, storage=storage_from_url(storage)).get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    split = Counter(t.user_attrs["worker_pid"] for t in complete)
    shares = {worker.pid: split.get(worker.pid, 0) for worker in workers}
    assert len(complete) == n_trials, f"complete trials {len(complete)}, split {shares}"
    assert set(split) <= set(shares), f"trials ran by unknown processes: {split}"
    assert all(count > 0 for count in shares.values()), f"a worker ran no trial: {shares}"
    others = [t for t in trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert all(t.user_attrs.get("surplus") for t in others), "only budget surplus may be left unfinished"


def test_the_trailing_stop_is_searched_like_any_tunable_parameter(data: Data) -> None:
    inputs, base, settings = data
    trailing = base.with_changes([ParameterChange("ranging", "trailing_stop", True)])
    space = {"trailing_stop_positive": (0.002, 0.03), "trailing_stop_positive_offset": (0.0, 0.02)}
    result = run_search(spec_for("trailing", space=space, n_trials=20), inputs, trailing, settings)

    for name, (low, high) in space.items():
        assert result.trials[name].between(low, high).all(), name
    assert result.trials["value"].nunique() > 10  # the trailing distances really change the replay
    changes = [ParameterChange("ranging", name, value) for name, value in result.best_params.items()]
    metrics = replay_tables(inputs, tables_for_changes(inputs, trailing, [changes]), settings).metrics
    assert result.best_value == pytest.approx(metrics["log_growth"].iat[0], rel=1e-12)
