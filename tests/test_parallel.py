"""The tune's independent work run in parallel (framework/parallel.py): the same session serially, on
process workers, on threads and on a real local Dask cluster (scheduler and workers as processes);
[parallel] settings refused with the key named; a scheduler that does not answer is an InputError."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from framework.config import SERIAL_PARALLEL, ParallelSettings, Settings, load_settings
from framework.errors import InputError
from framework.parallel import ordered_map, workers_kept
from framework.pipeline import TuneFiles, run_tune
from framework.sample import SampleSet, write_sample

COMMAND = Path(sys.executable).parent / "playbook-tuner"
TUNE: dict[str, Any] = {"lookback_days": 365}  # the defaults validate changes on this sample; fewer trials do not


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample(tmp_path_factory.mktemp("parallel"), seed=7, days=60)


def session_document(sample: SampleSet, folder: Path, parallel: dict[str, Any]) -> dict[str, Any]:
    """The session document of a tune of the sample with ``parallel`` settings, without what differs
    between any two runs (ids, times, the seconds the vectorbt check took)."""
    settings = Settings.model_validate(TUNE | {"parallel": parallel})
    files = TuneFiles(sample.trades, sample.prices, sample.playbook, sample.signals, folder / "store.sqlite")
    document = run_tune(files, settings).document
    text = json.dumps({k: v for k, v in document.items() if k not in {"session_id", "created_at", "expires_at"}})
    return _without_seconds(json.loads(text))


def _without_seconds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


@pytest.fixture(scope="module")
def serial(sample: SampleSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    document = session_document(sample, tmp_path_factory.mktemp("serial"), {"backend": "serial"})
    assert document["recommendations"], "the planted sample validates changes: the comparison has content"
    return document


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [{"backend": "processes", "workers": 2}, {"backend": "threads", "workers": 2}])
def test_workers_on_this_machine_give_the_serial_session(
    parallel: dict[str, Any], serial: dict[str, Any], sample: SampleSet, tmp_path: Path
) -> None:
    assert session_document(sample, tmp_path, parallel) == serial


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_serial_session(
    serial: dict[str, Any], sample: SampleSet, tmp_path: Path
) -> None:
    from distributed import LocalCluster  # the dev extra brings it: CI runs this test

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        document = session_document(sample, tmp_path, {"backend": "dask", "scheduler": cluster.scheduler_address})
        workers = len(cluster.scheduler_info["workers"])
    assert workers == 2
    assert document == serial


def _square_plus(offset: int, item: int) -> int:
    return offset + item * item


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
def test_results_come_in_order_and_progress_is_told_before_each(backend: str) -> None:
    told: list[int] = []
    items = list(range(12))
    results = ordered_map(_square_plus, 100, items, ParallelSettings(backend=backend), before_each=told.append)
    assert list(results) == [100 + k * k for k in items]
    assert told == items


def _worker_pid(_: None, item: int) -> int:
    time.sleep(0.05)  # both workers take items
    return os.getpid()


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def test_maps_share_their_process_workers_inside_workers_kept_and_stop_them_after() -> None:
    two = ParallelSettings(backend="processes", workers=2)
    alone = set(ordered_map(_worker_pid, None, list(range(8)), two))
    with workers_kept():
        first = set(ordered_map(_worker_pid, None, list(range(8)), two))
        second = set(ordered_map(_worker_pid, None, list(range(8)), two))
        assert _alive(first) == first  # still there between the maps
    assert os.getpid() not in first | alone and len(first) == 2
    assert second == first  # the second map started no worker of its own
    assert not alone & first  # outside the block a map's workers are told to stop when it ends
    deadline = time.monotonic() + 30
    while _alive(first | alone) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(first | alone)


def test_serial_work_starts_as_it_is_told() -> None:
    events: list[str] = []

    def work(_: None, item: int) -> int:
        events.append(f"run {item}")
        return item

    for _ in ordered_map(work, None, [0, 1], SERIAL_PARALLEL, before_each=lambda k: events.append(f"told {k}")):
        pass
    assert events == ["told 0", "run 0", "told 1", "run 1"]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[parallel]\nbackend = "gpu"\n', "parallel.backend", "'processes', 'threads', 'serial' or 'dask'"),
        ("[parallel]\nworkers = -2\n", "parallel.workers", "greater than or equal to 0"),
        ('[parallel]\nbackend = "dask"\n', "parallel", "needs scheduler"),
        ('[parallel]\nscheduler = "http://10.0.0.5:8786"\n', "parallel.scheduler", "scheme 'http'"),
        ('[parallel]\nscheduler = "10.0.0.5"\n', "parallel.scheduler", "must be host:port"),
        ("[parallel]\ntimeout = 0\n", "parallel.timeout", "greater than 0"),
        ('[parallel]\nmin_trades = "many"\n', "parallel.min_trades", "valid integer"),
        ("[parallel]\nmin_trades = -1\n", "parallel.min_trades", "greater than or equal to 0"),
        ("[parallel]\ncores = 4\n", "parallel.cores", "Extra inputs are not permitted"),
    ],
)
def test_bad_parallel_settings_name_the_key(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert problem.field == field and words in problem.message


def test_a_scheduler_address_without_scheme_is_taken_as_tcp() -> None:
    assert ParallelSettings(backend="dask", scheduler="10.0.0.5:8786").scheduler == "10.0.0.5:8786"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_is_an_input_error_naming_its_address() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    settings = ParallelSettings(backend="dask", scheduler=address, timeout=2)
    with pytest.raises(InputError) as caught:
        list(ordered_map(_square_plus, 0, [1, 2], settings))
    (problem,) = caught.value.problems
    assert problem.field == "parallel.scheduler" and address in problem.message and "did not answer" in problem.message


def test_the_command_line_says_an_unreachable_scheduler_in_one_line(sample: SampleSet, tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text(f'[parallel]\nbackend = "dask"\nscheduler = "tcp://127.0.0.1:{_free_port()}"\ntimeout = 2\n')
    result = subprocess.run(
        [str(COMMAND), "tune", "--trades", str(sample.trades), "--prices", str(sample.prices),
         "--playbook", str(sample.playbook), "--store", str(tmp_path / "store.sqlite"), "--config", str(config)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 0
    assert "did not answer" in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_jobs_one_runs_serially_and_more_keep_the_backend() -> None:
    configured = ParallelSettings(backend="threads")
    assert configured.with_jobs(1).backend == "serial"
    assert (configured.with_jobs(3).backend, configured.with_jobs(3).workers) == ("threads", 3)
    assert SERIAL_PARALLEL.with_jobs(2).backend == "processes"
    with pytest.raises(InputError, match="--jobs"):
        configured.with_jobs(0)


def test_a_small_tune_runs_serially_unless_the_workers_are_chosen() -> None:
    default = ParallelSettings()
    assert default.for_trades(19_999) == SERIAL_PARALLEL
    assert default.for_trades(20_000) is default
    chosen = ParallelSettings(workers=2)
    assert chosen.for_trades(10) is chosen
    always = ParallelSettings(min_trades=0)
    assert always.for_trades(0) is always
    threads = ParallelSettings(backend="threads")
    assert threads.for_trades(10) is threads


def test_jobs_below_one_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(COMMAND), "tune", "--jobs", "0", "--store", str(tmp_path / "store.sqlite")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "--jobs" in result.stderr
    assert not (tmp_path / "store.sqlite").exists()
