"""What every command shares: the typer app, the consoles, exit codes, common options and helpers.

Heavy modules (pandas, numba, scikit-learn, optuna, Telegram) are imported inside the commands that
need them, so ``--help`` and the reading commands start in a fraction of a second.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from framework.errors import PlaybookTunerError, Problem
from framework.store import STORE_FILE_NAME

if TYPE_CHECKING:
    import pandas as pd

    from framework.freqtrade.config import FreqtradeSetup
    from framework.market import Market
    from framework.trades import LoadedLog


class ExitCode(IntEnum):
    """The exit status of every command (README, "Exit codes")."""

    OK = 0
    """Done: the command did what it was asked."""
    REFUSED = 1
    """Refused, or nothing to do: stale, expired or already decided; nothing was changed."""
    BAD_INPUT = 2
    """Bad input or usage: a file, row, field, option or id is wrong; nothing was written."""


app = typer.Typer(
    name="playbook-tuner",
    help="Tune a trading bot's per-regime playbook from its own trade log, safely.\n\n"
    "Exit status: 0 done; 1 refused or nothing to do (stale, expired, already decided); 2 bad input.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Piped output is not cut to 80 columns: long lines stay whole and tables get room. No markup by
# default: user text such as "[pending]" or "[0, 1]" must print as written.
console = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, soft_wrap=True, markup=False)

STDOUT = Path("-")
"""``--json -``: the document goes to standard output, and everything else to standard error."""

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML file over the defaults (or $PLAYBOOK_TUNER_CONFIG).")
]
FreqtradeConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--freqtrade-config",
        help="freqtrade's config.json: its fee, dry_run_wallet, timeframe, pairs, candle folder "
        "(keys set in --config win).",
    ),
]
UserdirOption = Annotated[
    Path | None,
    typer.Option("--userdir", help="freqtrade's user_data folder: its config.json, candles in data/<exchange>/."),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite store; default: ./playbook-tuner.sqlite or the sample's."),
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here ('-': stdout).")]
SampleTradesOption = Annotated[Path | None, typer.Option("--trades", help="Trade log; default: the embedded sample.")]
SignalsOption = Annotated[
    Path | None,
    typer.Option(
        "--signals", help="Signal log, or freqtrade's _signals.pkl / backtest .zip (lets a threshold be lowered)."
    ),
]
PricesOption = Annotated[Path | None, typer.Option("--prices", help="Candle folder (freqtrade layout).")]
LivePlaybookOption = Annotated[
    Path | None, typer.Option("--playbook", help="Live playbook YAML (the file approved changes are written to).")
]
TuneStoreOption = Annotated[Path | None, typer.Option("--store", help="SQLite store; default: beside the playbook.")]
LenientOption = Annotated[bool, typer.Option("--lenient", help="Drop bad rows and report each one instead of failing.")]


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        say(f"playbook-tuner {version('playbook-tuner')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """The options every command shares (``--version``)."""


def main() -> None:
    """Console entry point: user errors print one clear message and exit with ``ExitCode.BAD_INPUT``."""
    try:
        app()
    except PlaybookTunerError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        raise SystemExit(ExitCode.BAD_INPUT) from None
    finally:
        # the interpreter's shutdown collects garbage over every object of vectorbt, scikit-learn and
        # the rest again and again (a second); set aside, they are freed by reference count alone
        gc.freeze()


def say(text: str) -> None:
    """One line for the person at the terminal, printed as written."""
    console.print(text, highlight=False)


def warn(text: str) -> None:
    errors.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, markup=True)


def json_to_stdout(target: Path | None) -> None:
    """With ``--json -`` the human output moves to standard error, so standard output is the document alone."""
    if target == STDOUT:
        console.file = sys.stderr


def check_writable(target: Path | None, option: str) -> None:
    """Refuse an output path whose folder does not exist or cannot be written, before any work is done."""
    if target is None or target == STDOUT:
        return
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise PlaybookTunerError(f"{option} {target}: is a folder, give a file name; nothing was done")
    if not folder.is_dir():
        raise PlaybookTunerError(f"{option} {target}: the folder {folder} does not exist; nothing was done")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PlaybookTunerError(f"{option} {target}: the folder {folder} is not writable; nothing was done")


def write_json(document: Any, target: Path, what: str) -> None:
    """Write ``document`` as JSON to ``target`` (``-``: standard output)."""
    text = json.dumps(document, indent=2) + "\n"
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target.write_text(text, encoding="utf-8")
    say(f"{what} written to {target}")


@dataclass(frozen=True)
class InputFiles:
    trades: Path
    signals: Path | None
    prices: Path
    playbook: Path

    @property
    def is_embedded_sample(self) -> bool:
        from framework.user_cache import embedded_sample_directory

        return self.trades.parent == embedded_sample_directory()


def effective_settings(config: Path | None, freqtrade_config: Path | None, userdir: Path | None) -> FreqtradeSetup:
    """Our settings (``--config``) with the freqtrade config put over them, its statements printed
    (rule: a key set in our config wins; see :mod:`framework.freqtrade.config`)."""
    from framework.config import load_settings
    from framework.freqtrade.config import freqtrade_setup

    setup = freqtrade_setup(load_settings(config), freqtrade_config, userdir)
    for line in setup.statements:
        say(line)
    return setup


def candle_folder(prices: Path | None, setup: FreqtradeSetup) -> Path | None:
    """``--prices`` when given, else the freqtrade config's candle folder (None without a config)."""
    if prices is not None or setup.config is None:
        return prices
    return setup.config.datadir


def inputs(trades: Path | None, signals: Path | None, prices: Path | None, playbook: Path | None) -> InputFiles:
    """The files given, or the embedded sample's when no trade log is given (written on first use)."""
    if trades is None:
        if any((signals, prices, playbook)):
            raise typer.BadParameter("--signals, --prices and --playbook go with --trades")
        from framework.sample import EMBEDDED_SAMPLE_DAYS, cached_sample, sample_is_cached

        writing = f"writing the embedded sample ({EMBEDDED_SAMPLE_DAYS} days of candles and logs), once"
        with nullcontext() if sample_is_cached() else Stages(writing):
            sample = cached_sample()
        say(f"using the embedded sample in {sample.directory}")
        return InputFiles(sample.trades, sample.signals, sample.prices, sample.playbook)
    if prices is None or playbook is None:
        raise typer.BadParameter("--trades needs --prices (or a freqtrade config's candles) and --playbook")
    return InputFiles(trades, signals, prices, playbook)


def sample_lookback(files: InputFiles) -> int | None:
    """All of the embedded sample's days when its files are used; else the configured lookback."""
    if not files.is_embedded_sample:
        return None
    from framework.sample import EMBEDDED_SAMPLE_DAYS

    say(f"(the embedded sample: all of its {EMBEDDED_SAMPLE_DAYS} days are used)")
    return EMBEDDED_SAMPLE_DAYS


def store_path(store: Path | None) -> Path:
    """The store given, else ./playbook-tuner.sqlite, else the embedded sample's."""
    if store is not None:
        if not store.exists():
            raise typer.BadParameter(f"no store at {store}")
        return store
    from framework.user_cache import embedded_sample_directory

    for candidate in (Path(STORE_FILE_NAME), embedded_sample_directory() / STORE_FILE_NAME):
        if candidate.exists():
            return candidate
    raise typer.BadParameter(f"no store found: pass --store (tune writes {STORE_FILE_NAME} beside the playbook)")


def report_log(kind: str, log: LoadedLog) -> None:
    say(f"{kind} {log.source}: {len(log.frame)} rows valid")
    if log.ignored_columns:
        say(f"  ignored columns: {', '.join(log.ignored_columns)}")
    for problem in log.dropped:
        print_problem("dropped", problem)


def print_problem(prefix: str, problem: Problem) -> None:
    errors.print(f"  [yellow]{escape(prefix)}[/] {escape(str(problem))}", highlight=False, markup=True)


def print_counts(title: str, counts: pd.Series) -> None:
    say(f"{title}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


def print_skipped(market: Market) -> None:
    if market.skipped:
        say(f"not candle files (skipped): {', '.join(p.name for p in market.skipped)}")


class Stages:
    """A long command's stages as it goes: on a terminal a spinner naming the current stage; otherwise
    (a log, a pipe) one plain line per stage with the seconds since the start, and no spinner frames."""

    def __init__(self, first: str | None = None) -> None:
        self._first = first
        self._progress: Any = None
        self._task: Any = None
        self._started = 0.0
        self._last = ""

    def __enter__(self) -> Stages:
        self._started = time.perf_counter()
        if console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
            self._progress = Progress(*columns, console=console)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=None)
        if self._first:
            self(self._first)
        return self

    def __call__(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self._progress is not None:
            self._progress.update(self._task, description=text)
        else:
            errors.print(f"[{time.perf_counter() - self._started:6.1f} s] {text}", highlight=False)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc_info)
