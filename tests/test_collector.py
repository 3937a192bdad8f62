"""framework.collector: the collector is off inside the block and as it was after; set_aside freezes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from framework.collector import collection_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_inside_and_restored_after(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_restored_when_the_block_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("import failed")
    assert gc.isenabled()


def test_set_aside_moves_what_is_alive_to_the_permanent_generation() -> None:
    gc.enable()
    gc.unfreeze()
    with collection_paused():
        kept = [[] for _ in range(1000)]
    assert gc.get_freeze_count() == 0
    with collection_paused(set_aside=True):
        kept.append([])
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()
