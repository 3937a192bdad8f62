"""Commands on the inputs: config, import-freqtrade, regimes, sample, replay, check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from framework.cli.common import (
    ConfigOption,
    FreqtradeConfigOption,
    JsonOption,
    LenientOption,
    PricesOption,
    UserdirOption,
    app,
    candle_folder,
    check_writable,
    console,
    effective_settings,
    json_to_stdout,
    print_counts,
    print_problem,
    print_skipped,
    report_log,
    say,
    warn,
    write_json,
)

if TYPE_CHECKING:
    import pandas as pd

    from framework.config import Settings
    from framework.freqtrade.config import FreqtradeSetup
    from framework.market import Market

REGIME_HEADERS = {"trending_up": "up", "trending_down": "down", "ranging": "ranging", "volatile": "volatile"}


@app.command("config")
def config_command(config: ConfigOption = None) -> None:
    """Print the effective configuration as TOML."""
    from framework.config import load_settings, settings_to_toml

    settings = load_settings(config)
    source = str(config) if config else "built-in defaults (configs/default.toml)"
    say(f"# effective configuration from {source}")
    say(settings_to_toml(settings))


@app.command("import-freqtrade")
def import_freqtrade_command(
    path: Annotated[Path, typer.Argument(help="tradesv3.sqlite, or a backtest export (.json / .zip).")],
    out: Annotated[Path, typer.Option("--out", help="Trade log to write (.csv or .parquet).")],
    strategy: Annotated[str | None, typer.Option(help="Import only this strategy's trades.")] = None,
    confidence: Annotated[float | None, typer.Option(help="Constant confidence for every trade (0-1).")] = None,
    confidence_tag_pattern: Annotated[
        str | None, typer.Option(help="Regex with one group reading the confidence out of enter_tag.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Convert a freqtrade trade history into a playbook-tuner trade log."""
    check_writable(out, "--out")
    from framework.config import load_settings
    from framework.freqtrade import import_freqtrade
    from framework.trades import write_log

    source_settings = load_settings(config).freqtrade
    overrides = {
        key: value
        for key, value in (("confidence", confidence), ("confidence_tag_pattern", confidence_tag_pattern))
        if value is not None
    }
    settings = source_settings.model_validate({**source_settings.model_dump(), **overrides})
    result = import_freqtrade(path, settings, strategy=strategy)
    for warning in result.warnings:
        warn(warning)
    write_log(result.log.frame, out)
    frame = result.log.frame
    say(
        f"imported {len(frame)} trades ({frame['symbol'].nunique()} symbols, "
        f"{frame['entry_time'].min():%Y-%m-%d} -> {frame['exit_time'].max():%Y-%m-%d}) into {out}"
    )
    print_counts("exit reasons", frame["exit_reason"].value_counts())


@app.command("regimes")
def regimes_command(
    prices: Annotated[Path, typer.Option("--prices", help="Candle folder (freqtrade layout) or one file.")],
    timeframe: Annotated[str | None, typer.Option(help="Use this timeframe when several exist.")] = None,
) -> None:
    """Classify every bar into a market regime; print each regime's share of time and transitions."""
    import pandas as pd
    from rich.table import Table

    from framework.market import load_market
    from framework.regimes import classify, summarize

    market = load_market(prices, timeframe=timeframe)
    table = Table(title=f"Share of time per market regime in {prices}")
    table.add_column("symbol", no_wrap=True)
    table.add_column("tf", no_wrap=True)
    table.add_column("bars", justify="right")
    for header in REGIME_HEADERS.values():
        table.add_column(header, justify="right")
    table.add_column("switches", justify="right")
    table.add_column("gaps", justify="right")
    transitions = pd.DataFrame(0, index=list(REGIME_HEADERS), columns=list(REGIME_HEADERS))
    for symbol in market.symbols():
        candles = market.for_symbol(symbol)
        summary = summarize(classify(candles.frame))
        transitions += summary.transitions
        table.add_row(
            symbol,
            candles.timeframe,
            str(len(candles.frame)),
            *(f"{summary.share[r]:.1%}" for r in REGIME_HEADERS),
            str(int(summary.transitions.to_numpy().sum())),
            str(candles.gaps.gaps),
        )
    console.print(table)
    say("up/down: trending_up/trending_down; switches: regime transitions; gaps: holes in the candles")
    matrix = Table(title="Regime transitions, all symbols (row: from, column: to)")
    matrix.add_column("from", no_wrap=True)
    for header in REGIME_HEADERS.values():
        matrix.add_column(header, justify="right")
    for regime, header in REGIME_HEADERS.items():
        matrix.add_row(header, *(str(int(n)) for n in transitions.loc[regime]))
    console.print(matrix)
    print_skipped(market)


@app.command("sample")
def sample_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the sample into.")] = Path("sample"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    symbols: Annotated[int, typer.Option(help="Number of synthetic symbols.")] = 3,
    days: Annotated[int, typer.Option(help="Days of 5-minute candles.")] = 60,
    structure: Annotated[
        bool, typer.Option("--structure/--no-structure", help="Plant an edge, or make a market with none.")
    ] = True,
) -> None:
    """Write a complete synthetic working set: candles, trade log, signal log, playbook."""
    from framework.sample import write_sample
    from framework.trades import load_signals, load_trades

    paths = write_sample(out, seed=seed, symbols=symbols, days=days, structure=structure)
    trades = load_trades(paths.trades).frame
    signals = load_signals(paths.signals).frame
    say(
        f"sample written to {paths.directory}: {symbols} symbols x {days} days of 5m candles in "
        f"{paths.prices}, {len(trades)} trades in {paths.trades.name}, {len(signals)} signals "
        f"({int(signals['taken'].sum())} taken) in {paths.signals.name}, {paths.playbook.name}"
    )
    print_counts("trades per regime at entry", trades["regime"].fillna("(warm-up)").value_counts())


@app.command("replay")
def replay_command(
    trades: Annotated[Path, typer.Option(help="Trade log (.csv, .parquet, .sqlite), or freqtrade's.")],
    playbook: Annotated[Path, typer.Option(help="Playbook YAML to replay the trades under.")],
    prices: PricesOption = None,
    out: Annotated[Path | None, typer.Option(help="Write per-trade outcomes here (.csv / .parquet).")] = None,
    json_out: JsonOption = None,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
    lenient: LenientOption = False,
) -> None:
    """Replay the logged trades under a playbook and print what they would have made."""
    check_writable(out, "--out")
    check_writable(json_out, "--json")
    json_to_stdout(json_out)
    from rich.table import Table

    from framework.formatting import metric_text
    from framework.freqtrade import read_trade_log
    from framework.playbook import load_playbook
    from framework.regimes import label_trades
    from framework.replay import prepare, replay_candidates
    from framework.replay.contradictions import contradictions
    from framework.session import json_number
    from framework.trades import write_log

    setup = effective_settings(config, freqtrade_config, userdir)
    settings = setup.settings
    candles = candle_folder(prices, setup)
    if candles is None:
        raise typer.BadParameter("give --prices (or a freqtrade config, whose candle folder is used)")
    read = read_trade_log(trades, settings.freqtrade, lenient=lenient)
    for warning in read.warnings:
        say(f"{trades.name}: {warning}")
    log = read.log
    for problem in log.dropped:
        print_problem("dropped", problem)
    market = _market(candles, setup)
    labelled = label_trades(log.frame, market)
    inputs = prepare(labelled, market, settings.replay)
    result = replay_candidates(inputs, [load_playbook(playbook)], settings.replay, per_trade=True)
    outcomes = result.trades(0)
    metrics = {name: json_number(value) for name, value in result.metrics.iloc[0].items()}
    table = Table(title=f"{playbook.name} replayed over {len(outcomes)} trades from {trades.name}")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, metric_text(name, value))
    console.print(table)
    say(
        "daily returns on UTC calendar days (zero days included), annualised with sqrt(365); "
        f"initial equity {settings.replay.initial_equity:,g}, margin compounding on realised equity"
    )
    print_counts("exit reasons", outcomes["exit_reason"].value_counts())
    against_log = contradictions(labelled, outcomes)
    if against_log.warning():
        say(f"warning: {against_log.warning()}")
    if out:
        write_log(outcomes, out)
        say(f"per-trade outcomes written to {out}")
    if json_out:
        document = {
            "trades": str(trades),
            "prices": str(candles),
            "playbook": str(playbook),
            "initial_equity": settings.replay.initial_equity,
            "annualisation": "daily returns on UTC calendar days, zero days included, x sqrt(365)",
            "metrics": metrics,
            "exits_before_the_log": against_log.early,
        }
        write_json(document, json_out, "metrics")


@app.command("check")
def check_command(
    trades: Annotated[Path | None, typer.Option(help="Trade log (.csv, .parquet, .sqlite).")] = None,
    signals: Annotated[
        Path | None, typer.Option(help="Signal log (.csv, .parquet, .sqlite), or freqtrade's _signals.pkl / .zip.")
    ] = None,
    prices: PricesOption = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML.")] = None,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
    lenient: LenientOption = False,
) -> None:
    """Load and validate inputs, and say what was found. Changes nothing."""
    if not any((trades, signals, prices, playbook, freqtrade_config, userdir)):
        raise typer.BadParameter(
            "give at least one of --trades, --signals, --prices, --playbook, --freqtrade-config, --userdir"
        )
    from framework.freqtrade import read_signal_log, read_trade_log
    from framework.playbook import load_playbook

    setup = effective_settings(config, freqtrade_config, userdir)
    settings = setup.settings
    folder = candle_folder(prices, setup)
    market = _market(folder, setup) if folder else None
    if market is not None:
        for symbol in market.symbols():
            candles = market.for_symbol(symbol)
            frame = candles.frame
            say(
                f"candles {symbol} {candles.timeframe}: {len(frame)} bars {frame.index[0]} -> "
                f"{frame.index[-1]}, {candles.gaps.gaps} gaps ({candles.gaps.missing_bars} missing bars, "
                f"longest {candles.gaps.longest})"
            )
        print_skipped(market)
        if setup.config is not None and setup.config.pairs:
            missing = sorted(set(setup.config.pairs) - set(market.symbols()))
            if missing:
                warn(f"pairs of the freqtrade config with no candles in {folder}: {', '.join(missing)}")
    log = None
    if trades:
        read = read_trade_log(trades, settings.freqtrade, lenient=lenient)
        for warning in read.warnings:
            say(f"{trades.name}: {warning}")
        log = read.log
        report_log("trades", log)
        if market is not None:
            _print_regime_counts(log.frame, market, settings)
    if signals:
        read_signals = read_signal_log(
            signals, settings.freqtrade, trades=log.frame if log is not None else None, lenient=lenient
        )
        for warning in read_signals.warnings:
            say(f"{signals.name}: {warning}")
        report_log("signals", read_signals.log)
        frame = read_signals.log.frame
        say(f"  taken {int(frame['taken'].sum())} of {len(frame)} signals")
    if playbook:
        book = load_playbook(playbook)
        listed = ", ".join(book.overrides) or "none"
        say(f"playbook {playbook}: valid; regimes with own parameters: {listed}")


def _market(candles: Path, setup: FreqtradeSetup) -> Market:
    """The candles in ``candles``, of the freqtrade config's timeframe when it names one."""
    from framework.market import load_market

    return load_market(candles, timeframe=setup.config.timeframe if setup.config else None)


def _print_regime_counts(frame: pd.DataFrame, market: Market, settings: Settings) -> None:
    """Trades per regime over the whole log and as ``tune`` counts them: within ``lookback_days``, and
    out of sample (the fold test blocks and the holdout, what ``min_oos_trades`` is compared with)."""
    from framework.pipeline import within_lookback
    from framework.regimes import label_trades
    from framework.validation import plan_windows

    labelled = label_trades(frame, market)
    print_counts("trades per regime at entry (whole log)", labelled["regime"].fillna("(warm-up)").value_counts())
    days = settings.lookback_days
    recent, _ = within_lookback(labelled, None, days)
    print_counts(
        f"within lookback_days = {days} (what tune analyses, {len(recent)} trades)",
        recent["regime"].fillna("(warm-up)").value_counts(),
    )
    try:
        plan = plan_windows(recent.reset_index(drop=True), settings)
    except ValueError as exc:
        say(f"tune cannot cut these trades into walk-forward folds: {exc}")
        return
    counts = plan.out_of_sample_by_regime()
    need = settings.validation.min_oos_trades
    say(
        "out of sample in tune (fold test blocks and holdout; a regime needs min_oos_trades = "
        f"{need} to be changed): " + ", ".join(f"{regime} {n}" for regime, n in counts.items())
    )
