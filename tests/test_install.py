"""The compiled numba kernels are cached in the user's cache folder, never inside the installed package,
and the README's quick start (a regular install, then `.ci/run`'s editable install in the same .venv) works.

Each check runs in a fresh interpreter on a copy of the package, with HOME and the cache variables
pointing into a temporary folder, so nothing of the user's own caches is read or written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("framework", "strategies")
CACHE_VARIABLES = ("XDG_CACHE_HOME", "PLAYBOOK_TUNER_CACHE", "NUMBA_CACHE_DIR")

# Compiles and calls one cache=True kernel, then reports numba's own cache setting afterwards.
CALL_KERNEL = """
import json, os, sys
if len(sys.argv) > 1:
    import numba  # numba's config is loaded before the variable is set
    os.environ["NUMBA_CACHE_DIR"] = sys.argv[1]
import numpy as np
import numba.core.config
from framework.replay import kernels
kernels.build_trees(np.zeros(3), np.ones(3))
print(json.dumps({"numba_cache_dir": numba.core.config.CACHE_DIR}))
"""


def _copy_packages(destination: Path) -> Path:
    """A copy of the source packages (no caches) under ``destination``; returns it."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def _cache_files(folder: Path) -> set[str]:
    """numba's cache files (index ``.nbi``, data ``.nbc``) under ``folder``."""
    return {path.name for path in folder.rglob("*.nb[ic]")} if folder.exists() else set()


def _environment(home: Path, **variables: str) -> dict[str, str]:
    """This process's environment without the cache variables, HOME set to ``home``, plus ``variables``.
    The base interpreter comes first on PATH (a pyenv shim would look for its versions under HOME)."""
    environment = {name: value for name, value in os.environ.items() if name not in CACHE_VARIABLES}
    environment["HOME"] = str(home)
    environment["PATH"] = os.pathsep.join([sysconfig.get_config_var("BINDIR"), environment.get("PATH", "")])
    environment.update(variables)
    return environment


def _call_kernel(tmp_path: Path, environment: dict[str, str], *arguments: str) -> tuple[dict[str, str], set[str]]:
    """Run :data:`CALL_KERNEL` on a copy of the packages; returns its report and the files the run added
    to the packages' folders."""
    source = _copy_packages(tmp_path / "source")
    before = _files(source)
    result = subprocess.run(
        [sys.executable, "-c", CALL_KERNEL, *arguments],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(source), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), _files(source) - before


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CACHE_HOME", "HOME only"])
def test_kernels_are_cached_in_the_user_cache_folder(tmp_path: Path, xdg: bool) -> None:
    home = tmp_path / "home"
    variables = {"XDG_CACHE_HOME": str(tmp_path / "xdg")} if xdg else {}
    expected = (tmp_path / "xdg" if xdg else home / ".cache") / "playbook-tuner" / "numba"

    report, added = _call_kernel(tmp_path, _environment(home, **variables))

    assert added == set()
    assert any(name.startswith("kernels.build_trees-") for name in _cache_files(expected)), _cache_files(tmp_path)
    assert report["numba_cache_dir"] == "", "numba's own setting must be left as it was for other code"


@pytest.mark.parametrize("when", ["at start", "after numba import"])
def test_a_numba_cache_dir_set_by_the_user_wins(tmp_path: Path, when: str) -> None:
    home = tmp_path / "home"
    chosen = tmp_path / "chosen"
    if when == "at start":
        report, added = _call_kernel(tmp_path, _environment(home, NUMBA_CACHE_DIR=str(chosen)))
    else:
        report, added = _call_kernel(tmp_path, _environment(home), str(chosen))

    assert added == set()
    assert _cache_files(chosen)
    assert not _cache_files(home / ".cache" / "playbook-tuner")
    assert report["numba_cache_dir"] == str(chosen)


def test_an_unwritable_cache_folder_compiles_every_run_and_never_writes_the_package(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    source = _copy_packages(tmp_path / "source")
    before = _files(source)
    result = subprocess.run(
        [sys.executable, "-c", CALL_KERNEL],
        cwd=tmp_path,
        env={
            **_environment(tmp_path / "home", PLAYBOOK_TUNER_CACHE=str(blocker / "cache")),
            "PYTHONPATH": str(source),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert _files(source) == before
    assert "cannot write the kernel cache" in result.stderr and "compiled on every run" in result.stderr


def _run(command: list[str], project: Path, environment: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
def test_quick_start_regular_install_then_ci_editable_install(tmp_path: Path) -> None:
    """The quick start on a copy of the project: `pip install .` into a new .venv and a kernel run, then
    `.ci/run`'s install step into that .venv, which must leave a working `playbook-tuner` (minutes: real
    installs from the package index)."""
    project = _copy_packages(tmp_path / "project")
    for name in ("pyproject.toml", "README.md", ".ci"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, project / name)
    environment = _environment(tmp_path / "home")
    python = project / ".venv" / "bin" / "python"

    _run([sys.executable, "-m", "venv", ".venv"], project, environment)
    _run([str(python), "-m", "pip", "install", "--quiet", "."], project, environment)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(_run([str(python), "-c", purelib], project, environment).strip())
    installed = {package: _files(site_packages / package) for package in PACKAGES}
    _run([str(python), "-c", CALL_KERNEL], tmp_path, environment)
    assert {package: _files(site_packages / package) for package in PACKAGES} == installed
    assert _cache_files(tmp_path / "home" / ".cache" / "playbook-tuner" / "numba")

    # A .venv from before the kernels left site-packages alone still has numba's files there.
    stale = site_packages / "framework" / "replay" / "__pycache__" / "kernels.build_trees-59.py311.nbi"
    stale.write_bytes(b"")
    _run(["bash", ".ci/run", "--install-only"], project, environment)

    assert "Usage" in _run([str(project / ".venv" / "bin" / "playbook-tuner"), "--help"], project, environment)
    where = "import framework.replay.kernels as k; print(k.__file__)"
    located = _run([str(python), "-c", where], tmp_path, environment)
    assert Path(located.strip()) == project / "framework" / "replay" / "kernels.py"
    assert not (site_packages / "framework").exists()
