"""The one atomic writer: an interrupted write leaves the old file whole and no temporary file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pytest

from framework.errors import PlaybookTunerError
from framework.livefile import replace_atomically, write_atomically
from framework.trades import write_log


class Interrupted(Exception):
    pass


def test_a_write_interrupted_half_way_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "live.txt"
    target.write_text("old", encoding="utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(b"half of the new")
        raise Interrupted

    with pytest.raises(Interrupted):
        replace_atomically(target, write)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["live.txt"]


def test_a_failed_rename_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "live.txt"
    target.write_text("old", encoding="utf-8")

    def refuse(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["live.txt"]


def test_a_write_replaces_the_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "live.txt"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    write_atomically(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["live.txt"]


def test_an_interrupted_log_write_leaves_the_old_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trades.csv"
    target.write_text("old log", encoding="utf-8")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(PlaybookTunerError, match="No space left on device"):
        write_log(pd.DataFrame({"trade_id": ["a"]}), target)
    assert target.read_text(encoding="utf-8") == "old log"
    assert [p.name for p in tmp_path.iterdir()] == ["trades.csv"]
