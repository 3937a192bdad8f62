"""Independent work run in parallel through joblib, results in order: process workers on this machine
(loky, the default), threads, one after the other, or the workers of a Dask distributed cluster
(joblib's ``dask`` backend; the optional ``dask`` extra). ``[parallel]`` in the settings chooses.

The work's big common input (``shared``) is sent once to each worker, not with every item: process
workers read it from a file written once, a Dask cluster receives it scattered to every worker. A
worker reports nothing back but its result, so progress is told from this process, as each result is
awaited.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import joblib
from joblib.externals.loky import get_reusable_executor

from framework.config import ParallelSettings
from framework.errors import InputError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    function: Callable[[S, T], R],
    shared: S,
    items: Sequence[T],
    settings: ParallelSettings,
    *,
    before_each: Callable[[int], None] = lambda index: None,
) -> Iterator[R]:
    """``function(shared, item)`` for each item, in order, computed by the backend ``settings`` name.

    ``function`` and the items are pickled for process and Dask workers, so they must not depend on
    this process's state; ``shared`` is sent once per worker. ``before_each(k)`` is called here before
    the k-th result is awaited (serially: as item k starts). An ``InputError`` when the Dask scheduler
    does not answer within ``settings.timeout`` seconds, or the ``dask`` extra is not installed.
    """
    if not items:
        return
    log_levels = _log_levels()
    with _parallel(settings, shared) as (parallel, handle, call):
        results = parallel(joblib.delayed(call)(function, handle, item, log_levels) for item in items)
        for index in range(len(items)):
            before_each(index)
            yield next(results)


@contextmanager
def _parallel(settings: ParallelSettings, shared: Any) -> Iterator[tuple[joblib.Parallel, Any, Callable[..., Any]]]:
    """The joblib ``Parallel`` of the backend, the handle workers receive for ``shared`` and the
    function that calls ``function(shared, item)`` with it."""
    n_jobs = settings.workers or -1
    options: dict[str, Any] = {"return_as": "generator", "batch_size": 1, "pre_dispatch": "all"}
    if settings.backend == "serial":
        yield joblib.Parallel(n_jobs=1, **options), shared, _call
    elif settings.backend == "threads":
        yield joblib.Parallel(n_jobs=n_jobs, backend="threading", **options), shared, _call
    elif settings.backend == "processes":
        with _shared_file(shared) as path, _process_workers():
            # max_nbytes=None: no read-only memmaps of arrays, which numba would compile kernels anew for
            yield joblib.Parallel(n_jobs=n_jobs, backend="loky", max_nbytes=None, **options), path, _call_from_file
    else:
        with _dask_client(settings), joblib.parallel_config(backend="dask", scatter=[shared]):
            yield joblib.Parallel(n_jobs=n_jobs, **options), shared, _call


def _call(function: Callable[[Any, Any], Any], shared: Any, item: Any, log_levels: dict[str, int]) -> Any:
    """``function(shared, item)`` with the loggers at the levels of the process that mapped it (logging
    is per process: optuna's verbosity, say)."""
    for name, level in log_levels.items():
        logging.getLogger(name).setLevel(level)
    return function(shared, item)


@dataclass(frozen=True)
class _SharedFile:
    path: str


def _call_from_file(
    function: Callable[[Any, Any], Any], shared: _SharedFile, item: Any, log_levels: dict[str, int]
) -> Any:
    return _call(function, _read_shared(shared.path), item, log_levels)


def _log_levels() -> dict[str, int]:
    """The levels this process's loggers were set to."""
    loggers = logging.Logger.manager.loggerDict.items()
    return {name: log.level for name, log in loggers if isinstance(log, logging.Logger) and log.level}


@lru_cache(maxsize=1)
def _read_shared(path: str) -> Any:
    """The shared input of a map, read once per worker process (each map writes a new file)."""
    with open(path, "rb") as file:
        return cloudpickle.load(file)


@contextmanager
def _shared_file(shared: Any) -> Iterator[_SharedFile]:
    """``shared`` pickled to a temporary file for the map's process workers, removed after it."""
    # a name never used before: workers cache what they read by it
    path = Path(tempfile.gettempdir()) / f"playbook-tuner-shared-{uuid.uuid4().hex}.pickle"
    try:
        with path.open("xb") as file:
            cloudpickle.dump(shared, file, protocol=5)
        yield _SharedFile(str(path))
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def workers_kept() -> Iterator[None]:
    """The maps inside the block (or the function it decorates) share their process workers, told to
    stop when it ends: a worker takes seconds to start (imports, kernels), and each map's shared input
    replaces the last one's in it."""
    global _KEEPING
    _KEEPING += 1
    try:
        yield
    finally:
        _KEEPING -= 1
        _release_workers()


_KEEPING = 0
_WORKING = False
"""Whether process workers were started since they were last told to stop."""


@contextmanager
def _process_workers() -> Iterator[None]:
    """The process workers of a map, told to stop when it ends outside :func:`workers_kept`: they hold
    its shared input, and each takes a second to exit, better spent while this process goes on than
    when it exits."""
    global _WORKING
    _WORKING = True
    try:
        yield
    finally:
        _release_workers()


def _release_workers() -> None:
    global _WORKING
    if _WORKING and not _KEEPING:
        _WORKING = False
        get_reusable_executor(reuse=True).shutdown(wait=False)


@contextmanager
def _dask_client(settings: ParallelSettings) -> Iterator[None]:
    """A ``distributed.Client`` of the scheduler, the default client while the map runs."""
    where = "config"
    field = "parallel.scheduler"
    try:
        from distributed import Client
    except ImportError:
        raise InputError.single(
            where, "backend 'dask' needs the dask extra: pip install 'playbook-tuner[dask]'", field=field
        ) from None
    try:
        client = Client(settings.scheduler, timeout=settings.timeout, set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise InputError.single(
            where,
            f"the Dask scheduler at {settings.scheduler} did not answer within {settings.timeout:g} s ({exc})",
            field=field,
        ) from None
    with client:
        yield
