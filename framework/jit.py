"""numba's decorators for every kernel module, with the compiled kernels cached in the user's cache folder.

numba caches a ``cache=True`` function next to its source (``__pycache__`` in the package) by default. For
an installed tool that writes into site-packages, and the folders it leaves there outlive ``pip uninstall``:
a later install of the same package (editable, say) is then shadowed by an empty namespace package
``framework``. Here the cache goes to ``<cache root>/numba`` (:func:`framework.user_cache.cache_root`),
unless the user chose a cache folder for numba (``NUMBA_CACHE_DIR`` or numba's config file), which wins.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import numba
from numba import prange
from numba.core import cgutils, types
from numba.core import config as _numba_config
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from framework.user_cache import cache_root

__all__ = ["borrowed", "kernel_cache_directory", "kernel_caching", "njit", "prange"]

F = TypeVar("F", bound=Callable[..., Any])

# numba sets its config attributes at run time from the environment, out of mypy's sight.
numba_config: Any = _numba_config


def kernel_cache_directory() -> Path:
    """Where the compiled kernels are cached: numba's own ``CACHE_DIR`` when the user set one (environment
    read anew, so a ``NUMBA_CACHE_DIR`` set after numba was imported counts), else ``<cache root>/numba``."""
    numba_config.reload_config()
    return Path(numba_config.CACHE_DIR) if numba_config.CACHE_DIR else cache_root() / "numba"


def njit(**options: Any) -> Callable[[F], F]:
    """``numba.njit(**options)``, with a ``cache=True`` kernel cached in :func:`kernel_cache_directory`.

    numba picks a function's cache folder once, when the function is decorated, from
    ``numba.core.config.CACHE_DIR``; that value is set only for the decoration and put back after, so
    other numba code in the process keeps numba's defaults and a later config reload cannot undo it.
    """

    def decorate(func: F) -> F:
        with kernel_caching() as directory:
            if options.get("cache") and directory is None:
                # numba would fall back to the source folder, inside an installed package: compile every run.
                _warn_once(
                    f"cannot write the kernel cache {kernel_cache_directory()}: numba kernels are compiled on every run"
                )
                return numba.njit(**{**options, "cache": False})(func)
            return numba.njit(**options)(func)

    return decorate


@contextmanager
def kernel_caching() -> Iterator[Path | None]:
    """Inside, numba caches what it compiles (or enables caching for) in :func:`kernel_cache_directory`,
    which is yielded; ``None`` is yielded, and nothing changed, when that folder cannot be written."""
    directory = kernel_cache_directory()
    if not _writable(directory):
        yield None
        return
    previous = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = str(directory)
    try:
        yield directory
    finally:
        numba_config.CACHE_DIR = previous


_WARNED: set[str] = set()


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _borrow(typingctx: Any, array: Any) -> Any:
    """``borrowed(array)`` inside a kernel: ``array`` without its reference count, a view that numba
    does not count when it is bound to a variable or passed to a call, valid only while ``array``
    itself lives (an argument of the kernel, say). Every binding of an array costs an atomic increment
    and decrement of its count: in a loop over trade-candidate pairs that called helpers on the bars,
    those were most of the time."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        counted = make_array(array)(context, builder, args[0])
        view = make_array(array)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(counted, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen


borrowed = cast(Callable[[Any], Any], intrinsic(_borrow))
