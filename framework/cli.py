"""The ``playbook-tuner`` command line: parses options, calls the library, renders with rich."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import optuna
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from telegram.error import InvalidToken, NetworkError

from framework.approval import Approvals
from framework.bot import TuningDesk, run_bot
from framework.config import Settings, load_settings, settings_to_toml
from framework.errors import PlaybookTunerError, Problem
from framework.formatting import metric_text
from framework.freqtrade import import_freqtrade
from framework.market import Market, load_market
from framework.models import ModelStore
from framework.pipeline import STORE_FILE_NAME, TuneFiles, json_number, load_validation_run, run_tune
from framework.playbook import load_playbook
from framework.quality import data_quality
from framework.regimes import classify, label_trades, summarize
from framework.replay import prepare, replay_candidates
from framework.replay.engine import DEFAULT_INITIAL_EQUITY
from framework.report import render_html_report, session_charts
from framework.safety import RISK_ICONS
from framework.sample import EMBEDDED_SAMPLE_DAYS, cached_sample, cached_sample_directory, write_sample
from framework.search import DataRef, run_worker
from framework.store import Store
from framework.strategy import load_strategy
from framework.trades import LoadedLog, load_signals, load_trades, write_log
from framework.tuners import load_tuners
from framework.tuning import build_context, regenerate_signals, run_tuners

app = typer.Typer(
    name="playbook-tuner",
    help="Tune a trading bot's per-regime playbook from its own trade log, safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output is not cut to 80 columns: long lines stay whole and tables get room. No markup by
# default: user text such as "[pending]" or "[0, 1]" must print as written.
console = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, soft_wrap=True, markup=False)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML file over the defaults (or $PLAYBOOK_TUNER_CONFIG).")
]
REGIME_HEADERS = {"trending_up": "up", "trending_down": "down", "ranging": "ranging", "volatile": "volatile"}
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite store; default: ./playbook-tuner.sqlite or the sample's."),
]
SampleTradesOption = Annotated[Path | None, typer.Option("--trades", help="Trade log; default: the embedded sample.")]
SignalsOption = Annotated[Path | None, typer.Option("--signals", help="Signal log (lets a threshold be lowered).")]
PricesOption = Annotated[Path | None, typer.Option("--prices", help="Candle folder (freqtrade layout).")]
LivePlaybookOption = Annotated[
    Path | None, typer.Option("--playbook", help="Live playbook YAML (the file approved changes are written to).")
]
TuneStoreOption = Annotated[Path | None, typer.Option("--store", help="SQLite store; default: beside the playbook.")]
TOKEN_ENV_VAR = "TELEGRAM_BOT_TOKEN"
LenientOption = Annotated[bool, typer.Option("--lenient", help="Drop bad rows and report each one instead of failing.")]


def main() -> None:
    """Console entry point: user errors print one clear message and exit with status 2."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per study would drown the output
    try:
        app()
    except PlaybookTunerError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        raise SystemExit(2) from None


@app.command("config")
def config_command(config: ConfigOption = None) -> None:
    """Print the effective configuration as TOML."""
    settings = load_settings(config)
    source = str(config) if config else "built-in defaults (configs/default.toml)"
    console.print(f"# effective configuration from {source}", highlight=False)
    console.print(settings_to_toml(settings), highlight=False, markup=False)


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
    source_settings = load_settings(config).freqtrade
    overrides = {
        key: value
        for key, value in (("confidence", confidence), ("confidence_tag_pattern", confidence_tag_pattern))
        if value is not None
    }
    settings = source_settings.model_validate({**source_settings.model_dump(), **overrides})
    result = import_freqtrade(path, settings, strategy=strategy)
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, markup=True)
    write_log(result.log.frame, out)
    frame = result.log.frame
    console.print(
        f"imported {len(frame)} trades ({frame['symbol'].nunique()} symbols, "
        f"{frame['entry_time'].min():%Y-%m-%d} -> {frame['exit_time'].max():%Y-%m-%d}) into {out}",
        highlight=False,
    )
    _print_counts("exit reasons", frame["exit_reason"].value_counts())


@app.command("regimes")
def regimes_command(
    prices: Annotated[Path, typer.Option("--prices", help="Candle folder (freqtrade layout) or one file.")],
    timeframe: Annotated[str | None, typer.Option(help="Use this timeframe when several exist.")] = None,
) -> None:
    """Classify every bar into a market regime; print each regime's share of time and transitions."""
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
    console.print(
        "up/down: trending_up/trending_down; switches: regime transitions; gaps: holes in the candles",
        highlight=False,
    )
    matrix = Table(title="Regime transitions, all symbols (row: from, column: to)")
    matrix.add_column("from", no_wrap=True)
    for header in REGIME_HEADERS.values():
        matrix.add_column(header, justify="right")
    for regime, header in REGIME_HEADERS.items():
        matrix.add_row(header, *(str(int(n)) for n in transitions.loc[regime]))
    console.print(matrix)
    _print_skipped(market)


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
    paths = write_sample(out, seed=seed, symbols=symbols, days=days, structure=structure)
    trades = load_trades(paths.trades).frame
    signals = load_signals(paths.signals).frame
    console.print(
        f"sample written to {paths.directory}: {symbols} symbols x {days} days of 5m candles in "
        f"{paths.prices}, {len(trades)} trades in {paths.trades.name}, {len(signals)} signals "
        f"({int(signals['taken'].sum())} taken) in {paths.signals.name}, {paths.playbook.name}",
        highlight=False,
    )
    _print_counts("trades per regime at entry", trades["regime"].fillna("(warm-up)").value_counts())


@app.command("replay")
def replay_command(
    trades: Annotated[Path, typer.Option(help="Trade log (.csv, .parquet, .sqlite).")],
    prices: Annotated[Path, typer.Option(help="Candle folder (freqtrade layout).")],
    playbook: Annotated[Path, typer.Option(help="Playbook YAML to replay the trades under.")],
    out: Annotated[Path | None, typer.Option(help="Write per-trade outcomes here (.csv / .parquet).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON here.")] = None,
    config: ConfigOption = None,
    lenient: LenientOption = False,
) -> None:
    """Replay the logged trades under a playbook and print what they would have made."""
    settings = load_settings(config)
    log = load_trades(trades, lenient=lenient)
    for problem in log.dropped:
        _print_problem("dropped", problem)
    market = load_market(prices)
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
    console.print(
        "daily returns on UTC calendar days (zero days included), annualised with sqrt(365); "
        f"initial equity {DEFAULT_INITIAL_EQUITY:,.0f}, margin compounding on realised equity",
        highlight=False,
    )
    _print_counts("exit reasons", outcomes["exit_reason"].value_counts())
    if out:
        write_log(outcomes, out)
        console.print(f"per-trade outcomes written to {out}", highlight=False)
    if json_out:
        document = {
            "trades": str(trades),
            "prices": str(prices),
            "playbook": str(playbook),
            "initial_equity": DEFAULT_INITIAL_EQUITY,
            "annualisation": "daily returns on UTC calendar days, zero days included, x sqrt(365)",
            "metrics": metrics,
        }
        json_out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"metrics written to {json_out}", highlight=False)


@app.command("tune")
def tune_command(
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the session as JSON here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the models, searches and bootstraps.")] = 0,
    config: ConfigOption = None,
    lenient: LenientOption = False,
) -> None:
    """Tune, validate out of sample, and store the validated changes as a session awaiting approval."""
    files = _inputs(trades, signals, prices, playbook)
    _tune_and_show(
        TuneFiles(files.trades, files.prices, files.playbook, files.signals, store),
        load_settings(config),
        seed=seed,
        lookback_days=_sample_lookback(files),
        lenient=lenient,
        json_out=json_out,
        report=report,
    )


@app.command("validate")
def validate_command(
    run: Annotated[Path | None, typer.Argument(help="A named validation run (backtests/<run>.yaml).")] = None,
    candidate: Annotated[Path | None, typer.Option(help="Hand-written playbook to judge.")] = None,
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the session as JSON here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the bootstraps.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Put a hand-written playbook through the same gate as the tuners' proposals, against the current one."""
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    if run is not None:
        spec = load_validation_run(run)
        candidate, period = spec.candidate, spec.period
        files = _InputFiles(spec.trades, spec.signals, spec.prices, spec.playbook)
        config = config or spec.config
    else:
        files = None
    if candidate is None:
        raise typer.BadParameter("give a run file or --candidate")
    files = files or _inputs(trades, signals, prices, playbook)
    _tune_and_show(
        TuneFiles(files.trades, files.prices, files.playbook, files.signals, store),
        load_settings(config),
        seed=seed,
        lookback_days=_sample_lookback(files),
        period=period,
        candidate=candidate,
        json_out=json_out,
        report=report,
    )


def _tune_and_show(
    files: TuneFiles, settings: Settings, *, json_out: Path | None, report: Path | None, **options: Any
) -> None:
    progress_columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*progress_columns, console=console) as bar:
        task = bar.add_task("starting", total=None)
        outcome = run_tune(files, settings, progress=lambda step: bar.update(task, description=step), **options)
    _print_session(outcome.document)
    if outcome.auto_applied:
        console.print(f"human_review_required = false: {outcome.auto_applied.message}", highlight=False)
    if json_out:
        json_out.write_text(json.dumps(outcome.document, indent=2) + "\n", encoding="utf-8")
        console.print(f"session written to {json_out}", highlight=False)
    if report:
        render_html_report(outcome.document, session_charts(outcome), report)
        console.print(f"report written to {report}", highlight=False)


@app.command("status")
def status_command(store: StoreOption = None) -> None:
    """Sessions of the last 7 days, their recommendations, data quality and model performance."""
    with Store(_store_path(store)) as opened:
        since = datetime.now(UTC) - timedelta(days=7)
        sessions = opened.sessions(since=since)
        items = [r for s in sessions for r in opened.recommendations(s.id)]
        latest = opened.latest_playbook_version()
    console.print(f"sessions in the last 7 days: {len(sessions)}, recommendations: {len(items)}", highlight=False)
    if sessions:
        quality = sum(s.payload["data_quality"]["score"] for s in sessions) / len(sessions)
        last = sessions[-1]
        console.print(f"average data quality {quality:.0f} %; last session {last.id} ({last.status})", highlight=False)
        r2 = [
            r.payload["model"]["r2"] for r in items if r.payload.get("model") and r.payload["model"]["r2"] is not None
        ]
        if r2:
            console.print(f"model R2 of the recommendations: mean {sum(r2) / len(r2):.3f}", highlight=False)
    if latest:
        console.print(f"live playbook: version {latest.version} ({latest.path})", highlight=False)


@app.command("history")
def history_command(store: StoreOption = None) -> None:
    """Every playbook version: who wrote it, when and why."""
    with Store(_store_path(store)) as opened:
        versions = opened.playbook_versions()
    table = Table(title="Playbook versions")
    for column in ("version", "time (UTC)", "author", "reason"):
        table.add_column(column)
    for version in versions:
        table.add_row(str(version.version), f"{version.created_at:%Y-%m-%d %H:%M}", version.author, version.reason)
    console.print(table)


@app.command("show")
def show_command(session: str, store: StoreOption = None) -> None:
    """A session's recommendations with their status and evidence, and what was rejected."""
    with Store(_store_path(store)) as opened:
        record = opened.session(session)
        statuses = {r.id: r.status for r in opened.recommendations(session)}
    console.print(
        f"session {record.id}: {record.status}, expires {record.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    _print_session(record.payload, statuses)


@app.command("apply")
def apply_command(
    session: str,
    safe_only: Annotated[bool, typer.Option("--safe-only", help="Apply the low-risk changes only.")] = False,
    items: Annotated[str | None, typer.Option(help="Apply these recommendation ids (r1,r3).")] = None,
    actor: Annotated[str, typer.Option(help="Who decides (recorded).")] = "cli",
    store: StoreOption = None,
) -> None:
    """Apply a session's validated changes: a new playbook version, written atomically."""
    with Store(_store_path(store)) as opened:
        approvals = Approvals(opened, _live_playbook(opened))
        if items:
            outcome = approvals.apply_items(session, items.split(","), actor)
        elif safe_only:
            outcome = approvals.apply_safe(session, actor)
        else:
            outcome = approvals.apply_all(session, actor)
    console.print(outcome.message, highlight=False)


@app.command("reject")
def reject_command(
    session: str,
    items: Annotated[str | None, typer.Option(help="Reject these recommendation ids only (r1,r3).")] = None,
    actor: Annotated[str, typer.Option(help="Who decides (recorded).")] = "cli",
    store: StoreOption = None,
) -> None:
    """Reject a session's changes (all, or the items named)."""
    with Store(_store_path(store)) as opened:
        approvals = Approvals(opened, _live_playbook(opened))
        outcome = (
            approvals.reject_items(session, items.split(","), actor) if items else approvals.reject_all(session, actor)
        )
    console.print(outcome.message, highlight=False)


@app.command("rollback")
def rollback_command(
    version: Annotated[int | None, typer.Argument(help="Version to return to; default: the one before.")] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "rollback from the command line",
    actor: Annotated[str, typer.Option(help="Who decides (recorded).")] = "cli",
    store: StoreOption = None,
) -> None:
    """Return the live playbook to an earlier version (written as a new version)."""
    with Store(_store_path(store)) as opened:
        latest = opened.latest_playbook_version()
        if latest is None:
            raise typer.BadParameter("the store has no playbook version yet")
        target = version if version is not None else (latest.parent or latest.version - 1)
        new = Approvals(opened, Path(latest.path)).rollback(target, actor, reason)
    console.print(f"rolled back to version {target}: now version {new}", highlight=False)


@app.command("bot")
def bot_command(
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Self-hosted Bot API server, e.g. http://127.0.0.1:8081.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the models, searches and bootstraps.")] = 0,
    config: ConfigOption = None,
) -> None:
    """Run the Telegram approval bot (long polling) until Ctrl-C or SIGTERM; token from $TELEGRAM_BOT_TOKEN."""
    token = os.environ.get(TOKEN_ENV_VAR, "").strip()
    if not token:
        raise PlaybookTunerError(f"set {TOKEN_ENV_VAR} to the token BotFather gave you (see the README, Telegram)")
    settings = load_settings(config)
    files = _inputs(trades, signals, prices, playbook)
    tune_files = TuneFiles(files.trades, files.prices, files.playbook, files.signals, store)
    desk = TuningDesk(tune_files, settings, seed=seed, lookback_days=_sample_lookback(files))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per long poll
    try:
        run_bot(desk, token, base_url=base_url)
    except InvalidToken:
        raise PlaybookTunerError(f"Telegram refused the token in {TOKEN_ENV_VAR}; check it with BotFather") from None
    except NetworkError as exc:
        server = base_url or "api.telegram.org"
        why = str(exc).replace(token, "<token>")
        raise PlaybookTunerError(f"cannot reach the Bot API server {server}: {why}") from None


@app.command("propose")
def propose_command(
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: Annotated[Path | None, typer.Option(help="Current playbook YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the models and searches.")] = 0,
    models: Annotated[Path | None, typer.Option(help="Save the fitted models here (joblib, versioned).")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL shared with workers (overrides search_storage).")
    ] = None,
    regenerate_signals_with: Annotated[
        list[str] | None,
        typer.Option(
            "--regenerate-signals",
            help="Without a signal log, rebuild one with this strategy (name or path.py:Class; repeatable).",
        ),
    ] = None,
    config: ConfigOption = None,
    lenient: LenientOption = False,
) -> None:
    """Run the tuners and print their proposals after the safety rules. Nothing is validated or applied."""
    settings = load_settings(config)
    files = _inputs(trades, signals, prices, playbook)
    log = load_trades(files.trades, lenient=lenient)
    if signals and regenerate_signals_with:
        raise typer.BadParameter("give either --signals or --regenerate-signals")
    market = load_market(files.prices)
    signal_log = None
    if files.signals and not regenerate_signals_with:
        signal_log = load_signals(files.signals, lenient=lenient).frame
    if regenerate_signals_with:
        strategies = [load_strategy(spec) for spec in regenerate_signals_with]
        signal_log = regenerate_signals(label_trades(log.frame, market), market, strategies)
        console.print(f"regenerated {len(signal_log)} signals ({int(signal_log['taken'].sum())} taken)")
    book = load_playbook(files.playbook)
    tuners = load_tuners(list(settings.tuners), settings.tuner_options)
    with console.status(f"tuning on {len(log.frame)} trades from {files.trades.name}..."):
        data_ref = DataRef(
            trades=str(files.trades), prices=str(files.prices), playbook=str(files.playbook),
            config=str(config) if config else None,
        )  # fmt: skip
        context = build_context(
            log.frame, market, book, settings, signals=signal_log, seed=seed,
            search_storage=storage or settings.search_storage or None, data_ref=data_ref,
        )  # fmt: skip
        result = run_tuners(tuners, context, ModelStore(models) if models else None)
    quality = data_quality(context.trades, settings)
    table = Table(title=f"Proposals for {files.playbook.name} (safety rules applied, not yet validated)")
    for column in ("block", "tuner", "change", "risk", "tuner conf.", "model R2 / MAE", "trials"):
        table.add_column(column, no_wrap=column != "change")
    for safe in result.accepted:
        proposal = safe.proposal
        model = f"{proposal.model.r2:.2f} / {proposal.model.mae:.4f}" if proposal.model else "-"
        change = f"{proposal.parameter}: {proposal.current:g} -> " + ", ".join(f"{c:g}" for c in safe.candidates)
        risks = " ".join(RISK_ICONS[r] for r in safe.risks)
        row = (proposal.regime, proposal.tuner, change, risks, f"{proposal.confidence:.0%}", model)
        table.add_row(*row, str(proposal.n_trials))
    console.print(table)
    for safe in result.accepted:
        console.print(f"  {safe.proposal.regime} {safe.proposal.parameter}: {safe.proposal.rationale}", highlight=False)
        for note in safe.notes:
            console.print(f"    safety: {note}", highlight=False)
    console.print(f"not proposed ({len(result.refused)}):", highlight=False)
    for refusal in result.refused:
        console.print(f"  {refusal.tuner} {refusal.regime} {refusal.parameter}: {refusal.reason}", highlight=False)
    for saved in result.saved_models:
        console.print(f"model saved: {saved.path} (version {saved.version})", highlight=False)
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality.parts.items())
    console.print(f"data quality {quality.score:.0f} % ({parts}); {len(context.trades)} trades", highlight=False)


@app.command("worker")
def worker_command(
    study: Annotated[str, typer.Option(help="Name of the shared study.")],
    storage: Annotated[str, typer.Option(help="Storage URL: sqlite:///f.db, postgresql://..., journal:///f.log.")],
    trials: Annotated[int | None, typer.Option(help="Run this many trials instead of the study's budget.")] = None,
) -> None:
    """Join a shared parameter search (started by a tuner with search_storage set) and run its trials."""
    result = run_worker(study, storage, trials)
    console.print(
        f"study {study}: {result.n_trials} trials, {result.n_feasible} feasible, "
        f"best {result.best_value:.4f} with {result.best_params} ({result.seconds:.1f} s)",
        highlight=False,
    )


@app.command("check")
def check_command(
    trades: Annotated[Path | None, typer.Option(help="Trade log (.csv, .parquet, .sqlite).")] = None,
    signals: Annotated[Path | None, typer.Option(help="Signal log (.csv, .parquet, .sqlite).")] = None,
    prices: PricesOption = None,
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML.")] = None,
    lenient: LenientOption = False,
) -> None:
    """Load and validate inputs, and say what was found. Changes nothing."""
    if not any((trades, signals, prices, playbook)):
        raise typer.BadParameter("give at least one of --trades, --signals, --prices, --playbook")
    market = load_market(prices) if prices else None
    if market is not None:
        for symbol in market.symbols():
            candles = market.for_symbol(symbol)
            frame = candles.frame
            console.print(
                f"candles {symbol} {candles.timeframe}: {len(frame)} bars {frame.index[0]} -> "
                f"{frame.index[-1]}, {candles.gaps.gaps} gaps ({candles.gaps.missing_bars} missing bars, "
                f"longest {candles.gaps.longest})",
                highlight=False,
            )
        _print_skipped(market)
    if trades:
        log = load_trades(trades, lenient=lenient)
        _report_log("trades", log)
        if market is not None:
            labelled = label_trades(log.frame, market)
            _print_counts("trades per regime at entry", labelled["regime"].fillna("(warm-up)").value_counts())
    if signals:
        _report_log("signals", load_signals(signals, lenient=lenient))
    if playbook:
        book = load_playbook(playbook)
        listed = ", ".join(book.overrides) or "none"
        console.print(f"playbook {playbook}: valid; regimes with own parameters: {listed}", highlight=False)


@dataclass(frozen=True)
class _InputFiles:
    trades: Path
    signals: Path | None
    prices: Path
    playbook: Path


def _inputs(trades: Path | None, signals: Path | None, prices: Path | None, playbook: Path | None) -> _InputFiles:
    """The files given, or the embedded sample's when no trade log is given."""
    if trades is None:
        if any((signals, prices, playbook)):
            raise typer.BadParameter("--signals, --prices and --playbook go with --trades")
        sample = cached_sample()
        console.print(f"using the embedded sample in {sample.directory}", highlight=False)
        return _InputFiles(sample.trades, sample.signals, sample.prices, sample.playbook)
    if prices is None or playbook is None:
        raise typer.BadParameter("--trades needs --prices and --playbook")
    return _InputFiles(trades, signals, prices, playbook)


def _print_session(document: dict[str, Any], statuses: dict[str, str] | None = None) -> None:
    """The seed's layout: validated changes per regime, then the rejected ones, then data quality."""
    recommendations = document["recommendations"]
    console.print(f"\nsession {document['session_id']}: {len(recommendations)} validated changes", highlight=False)
    for regime in dict.fromkeys(r["regime"] for r in recommendations):
        console.print(f"[bold]{escape(regime)}[/]", markup=True)
        for item in (r for r in recommendations if r["regime"] == regime):
            status = f"  [{statuses[item['id']]}]" if statuses else ""
            console.print(
                f"  {RISK_ICONS[item['risk']]} {item['id']} {item['parameter']}: {item['current']:g} → "
                f"{item['proposed']:g} (confidence {item['confidence']:.0%}, p={item['validation']['p_value']:.3f}, "
                f"DSR {item['validation']['dsr']:.2f}){status}",
                highlight=False,
            )
    rejected = document["rejected"]
    console.print(f"rejected ({len(rejected)}):", highlight=False)
    for entry in rejected:
        console.print(
            f"  {entry['regime']}.{entry['parameter']} ({entry['tuner']}): {entry['reason']}", highlight=False
        )
    quality = document["data_quality"]
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality["parts"].items())
    console.print(
        f"data quality {quality['score']:.0f} % ({parts}); {document['trades_analyzed']} trades analysed",
        highlight=False,
    )
    if recommendations and statuses is None:
        console.print(
            f"approve with: playbook-tuner apply {document['session_id']} [--safe-only | --items r1,r2]",
            highlight=False,
        )


def _sample_lookback(files: _InputFiles) -> int | None:
    """All of the embedded sample's days when its files are used; else the configured lookback."""
    if files.trades.parent != cached_sample_directory():
        return None
    console.print(f"(the embedded sample: all of its {EMBEDDED_SAMPLE_DAYS} days are used)", highlight=False)
    return EMBEDDED_SAMPLE_DAYS


def _store_path(store: Path | None) -> Path:
    """The store given, else ./playbook-tuner.sqlite, else the embedded sample's."""
    if store is not None:
        return store
    for candidate in (Path(STORE_FILE_NAME), cached_sample_directory() / STORE_FILE_NAME):
        if candidate.exists():
            return candidate
    raise typer.BadParameter(f"no store found: pass --store (tune writes {STORE_FILE_NAME} beside the playbook)")


def _live_playbook(store: Store) -> Path:
    latest = store.latest_playbook_version()
    if latest is None:
        raise typer.BadParameter("the store has no playbook version yet: run tune first")
    return Path(latest.path)


def _report_log(kind: str, log: LoadedLog) -> None:
    console.print(f"{kind} {log.source}: {len(log.frame)} rows valid", highlight=False)
    if log.ignored_columns:
        console.print(f"  ignored columns: {', '.join(log.ignored_columns)}", highlight=False)
    for problem in log.dropped:
        _print_problem("dropped", problem)


def _print_problem(prefix: str, problem: Problem) -> None:
    errors.print(f"  [yellow]{escape(prefix)}[/] {escape(str(problem))}", highlight=False, markup=True)


def _print_counts(title: str, counts: pd.Series) -> None:
    console.print(
        f"{title}: " + ", ".join(f"{key} {value}" for key, value in counts.items()),
        highlight=False,
    )


def _print_skipped(market: Market) -> None:
    if market.skipped:
        names = ", ".join(p.name for p in market.skipped)
        console.print(f"not candle files (skipped): {names}", highlight=False)
