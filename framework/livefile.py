"""Replacing a file another process reads, so that it never sees a half-written file.

Every file the framework writes whole goes through :func:`replace_atomically` (or its text form
:func:`write_atomically`): the new content is written to ``<name>.tmp-<pid>`` beside the target,
fsynced, renamed over the target with ``os.replace``, and the directory is fsynced: a reader sees the
old content or the new one, and after a crash the file holds one of them. A writer killed before the rename
leaves its temporary file behind; :func:`remove_stray_temporaries` clears those once their process
is gone (:func:`process_alive`). Deciding whether a rename happened is the caller's job.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` (UTF-8); see :func:`replace_atomically`."""
    replace_atomically(target, lambda handle: handle.write(text.encode("utf-8")))


def replace_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Replace ``target`` with what ``write`` writes to the binary handle it is given, through a
    fsynced temporary file beside ``target``.

    The file keeps ``target``'s permission bits. On a failure before the rename (``write`` raising
    included) the temporary file is removed and ``target`` is unchanged; a failure of the final
    directory fsync is raised after ``target`` already holds the new content.
    """
    temporary = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def remove_stray_temporaries(target: Path, writer_pid: int | None) -> None:
    """Delete the temporary files :func:`replace_atomically` left beside ``target``: the one of
    ``writer_pid`` and those of any other process that is gone, never this process's own."""
    for temporary in target.parent.glob(f"{target.name}.tmp-*"):
        suffix = temporary.name.rsplit("-", 1)[-1]
        if not suffix.isdigit():
            continue
        pid = int(suffix)
        if pid == writer_pid or (pid != os.getpid() and not process_alive(pid)):
            temporary.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process numbered ``pid`` exists on this machine (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but belongs to another user
    return True


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # file systems that cannot sync a directory
            raise
    finally:
        os.close(descriptor)
