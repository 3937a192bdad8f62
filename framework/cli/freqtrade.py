"""Commands for a freqtrade user's files: init-playbook."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from framework.cli.common import (
    ConfigOption,
    FreqtradeConfigOption,
    UserdirOption,
    app,
    check_writable,
    say,
    warn,
)
from framework.errors import PlaybookTunerError

if TYPE_CHECKING:
    from framework.freqtrade.config import FreqtradeConfig
    from framework.freqtrade.initial_playbook import Sizing


@app.command("init-playbook")
def init_playbook_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Playbook YAML to write.")],
    strategy: Annotated[
        str | None,
        typer.Option(help="Strategy class NAME (found in <userdir>/strategies) or its FILE.py; read, never run."),
    ] = None,
    from_backtest: Annotated[
        Path | None, typer.Option("--from-backtest", help="Backtest export (.json / .zip): the settings it ran with.")
    ] = None,
    trades: Annotated[
        Path | None, typer.Option(help="freqtrade's tradesv3.sqlite, for the leverage (else the export's trades).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output.")] = False,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
    config: ConfigOption = None,
) -> None:
    """Write a playbook from a freqtrade strategy's settings, so that the first replay is the strategy's.

    Sources, strongest first: the backtest export's strategy section, the freqtrade config's
    overrides, the hyperopt parameter file beside the strategy (<file>.json), the strategy's class
    attributes. Every value's source is printed.
    """
    if output.exists() and not force:
        raise PlaybookTunerError(f"--output {output} exists: pass --force to replace it; nothing was written")
    check_writable(output, "--output")
    from framework.config import load_settings
    from framework.freqtrade import read_trade_log
    from framework.freqtrade.config import freqtrade_setup
    from framework.freqtrade.initial_playbook import initial_playbook, log_leverage
    from framework.freqtrade.strategy_settings import find_strategy_file, read_backtest_strategy, strategy_settings
    from framework.livefile import write_atomically

    settings = load_settings(config)
    freqtrade = freqtrade_setup(settings, freqtrade_config, userdir).config
    name, strategy_file = _strategy(strategy, freqtrade)
    if strategy_file is None and name is not None:
        folders = _strategy_folders(freqtrade, userdir)
        strategy_file = find_strategy_file(name, folders)
        if strategy_file is None and from_backtest is None:
            searched = ", ".join(str(folder) for folder in folders) or "no folder (give --userdir)"
            raise PlaybookTunerError(f"strategy {name}: no file defines it (searched {searched}); give --strategy FILE")
    if strategy_file is None and from_backtest is None:
        raise typer.BadParameter("give --strategy NAME|FILE, --from-backtest FILE or a freqtrade config naming one")

    history = trades or from_backtest
    log = read_trade_log(history, settings.freqtrade).log.frame if history else None
    leverage, leverage_notes = log_leverage([] if log is None else log["leverage"].astype(float).tolist())
    roi_exits = 0 if log is None else int((log["exit_reason"] == "roi").sum())
    found = strategy_settings(
        backtest=from_backtest, strategy_file=strategy_file, name=name, config=freqtrade, roi_exits=roi_exits
    )
    section = read_backtest_strategy(from_backtest, found.name)[1] if from_backtest else {}
    spot = freqtrade is not None and freqtrade.trading_mode == "spot"
    book = initial_playbook(found, leverage=leverage, sizing=_sizing(section, freqtrade), spot=spot)
    write_atomically(output, book.text)
    for setting, source in found.sources.items():
        say(f"{setting} {found.values[setting]!r} from {source}")
    say(f"leverage {leverage:g} from {'the trades of ' + history.name if history else 'none given'}")
    for note in (*leverage_notes, *book.notes):
        warn(note)
    say(f"playbook written to {output}")


def _strategy(strategy: str | None, freqtrade: FreqtradeConfig | None) -> tuple[str | None, Path | None]:
    """The strategy's class name and file from ``--strategy`` (a name or a .py), else the config's."""
    if strategy is None:
        return (freqtrade.strategy if freqtrade else None), None
    if strategy.endswith(".py") or Path(strategy).is_file():
        return None, Path(strategy)
    return strategy, None


def _strategy_folders(freqtrade: FreqtradeConfig | None, userdir: Path | None) -> list[Path]:
    """Where freqtrade looks for strategies: ``strategy_path``, then ``<userdir>/strategies``."""
    folders = []
    if freqtrade and freqtrade.strategy_path:
        folders.append(freqtrade.strategy_path)
    base = userdir or (freqtrade.userdir if freqtrade else None)
    if base is not None:
        folders.append(base / "strategies")
    return folders


def _sizing(section: dict[str, Any], freqtrade: FreqtradeConfig | None) -> Sizing:
    """The stake and the wallet: the export's when it has them, else the config's."""
    from framework.freqtrade.initial_playbook import Sizing

    wallet = section.get("dry_run_wallet", section.get("starting_balance"))
    if section.get("stake_amount") is not None:
        max_open = section.get("max_open_trades")
        return Sizing(
            section["stake_amount"], wallet, max_open if isinstance(max_open, int) and max_open > 0 else None,
            source="backtest export",
        )  # fmt: skip
    if freqtrade is not None:
        return Sizing(
            freqtrade.stake_amount, freqtrade.initial_equity if wallet is None else wallet,
            freqtrade.max_open_trades, freqtrade.tradable_balance_ratio, source=str(freqtrade.source),
        )  # fmt: skip
    return Sizing(None, wallet, None, source="init-playbook")
