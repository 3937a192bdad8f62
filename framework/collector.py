"""Python's cyclic garbage collector held off heavy imports.

A full collection walks every object alive. Importing scikit-learn, Optuna or vectorbt creates hundreds of
thousands of objects that live as long as the process, and on the way sets off full collections of
everything loaded so far, which find next to nothing to free: in a tune of the embedded sample, ten of
them took 0.8-0.9 s of its 8 s. :func:`collection_paused` holds the collector off over such an import.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused(*, set_aside: bool = False) -> Iterator[None]:
    """The cyclic collector off for the block, and as it was after.

    With ``set_aside``, everything alive at the end moves to the permanent generation (``gc.freeze``),
    which later collections skip (its objects are still freed by reference count): for what a process
    keeps to its end, such as the command line's own imports, never for a library's caller.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if set_aside:
            gc.freeze()
        if enabled:
            gc.enable()
