"""Commands that tune and validate: tune, validate, propose, worker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from framework.cli.common import (
    ConfigOption,
    FreqtradeConfigOption,
    InputFiles,
    JsonOption,
    LenientOption,
    LivePlaybookOption,
    PricesOption,
    SampleTradesOption,
    SignalsOption,
    Stages,
    TuneStoreOption,
    UserdirOption,
    app,
    candle_folder,
    check_writable,
    console,
    effective_settings,
    inputs,
    json_to_stdout,
    sample_lookback,
    say,
    warn,
    write_json,
)
from framework.cli.render import flagged_lines, print_session
from framework.collector import collection_paused
from framework.errors import PlaybookTunerError

if TYPE_CHECKING:
    from framework.config import Settings
    from framework.desk import TuningDesk
    from framework.freqtrade.config import FreqtradeSetup
    from framework.pipeline import TuneFiles

ReportOption = Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")]
SearchStorageOption = Annotated[
    str | None, typer.Option("--storage", help="Optuna storage URL of the searches (overrides search_storage).")
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs", min=1, help="Workers for the folds and tuners at once (overrides [parallel] workers; 1: serial)."
    ),
]


@app.command("tune")
def tune_command(
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    json_out: JsonOption = None,
    report: ReportOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the models, searches and bootstraps.")] = 0,
    storage: SearchStorageOption = None,
    jobs: JobsOption = None,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
    lenient: LenientOption = False,
) -> None:
    """Audit the applied versions, then tune, validate out of sample, and store the validated changes as a
    session awaiting approval.

    A version the audit flags (worse than the one it replaced) is a warning before the session; an audit
    that cannot run is one warning, and the tune goes on.

    The --json document's "pending" lists the ids of the validated changes now awaiting a decision
    (empty when nothing validated): what a scheduled script checks.
    """
    setup = _prepared(json_out, report, config, freqtrade_config, userdir)
    files = inputs(trades, signals, candle_folder(prices, setup), playbook)
    _tune_and_show(
        tune_files(files, store),
        _with_jobs(setup.settings, jobs),
        seed=seed,
        lookback_days=sample_lookback(files),
        lenient=lenient,
        search_storage=storage,
        json_out=json_out,
        report=report,
        audit_first=True,
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
    json_out: JsonOption = None,
    report: ReportOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the bootstraps.")] = 0,
    storage: SearchStorageOption = None,
    jobs: JobsOption = None,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
) -> None:
    """Put a hand-written playbook through the same gate as the tuners' proposals, against the current one."""
    import pandas as pd

    from framework.pipeline import load_validation_run

    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    files: InputFiles | None = None
    if run is not None:
        spec = load_validation_run(run)
        candidate, period = spec.candidate, spec.period
        files = InputFiles(spec.trades, spec.signals, spec.prices, spec.playbook)
        config = config or spec.config
    if candidate is None:
        raise typer.BadParameter("give a run file or --candidate")
    setup = _prepared(json_out, report, config, freqtrade_config, userdir)
    files = files or inputs(trades, signals, candle_folder(prices, setup), playbook)
    _tune_and_show(
        tune_files(files, store),
        _with_jobs(setup.settings, jobs),
        seed=seed,
        lookback_days=sample_lookback(files),
        period=period,
        candidate=candidate,
        search_storage=storage,
        json_out=json_out,
        report=report,
    )


def _prepared(
    json_out: Path | None,
    report: Path | None,
    config: Path | None,
    freqtrade_config: Path | None,
    userdir: Path | None,
) -> FreqtradeSetup:
    """Check the outputs and the configuration before any work, so a wrong path writes nothing."""
    check_writable(json_out, "--json")
    check_writable(report, "--report")
    json_to_stdout(json_out)
    return effective_settings(config, freqtrade_config, userdir)


def _with_jobs(settings: Settings, jobs: int | None) -> Settings:
    """``settings`` with ``--jobs`` over ``[parallel]`` (None: as configured)."""
    if jobs is None:
        return settings
    return settings.model_copy(update={"parallel": settings.parallel.with_jobs(jobs)})


def tune_files(files: InputFiles, store: Path | None) -> TuneFiles:
    """The bot's files as the pipeline takes them (``store`` None: beside the playbook). Imports the
    pipeline and its libraries, set aside from the garbage collector (:mod:`framework.collector`)."""
    with collection_paused(set_aside=True):
        from framework.pipeline import TuneFiles

    return TuneFiles(files.trades, files.prices, files.playbook, files.signals, store)


def _tune_and_show(
    files: TuneFiles,
    settings: Settings,
    *,
    seed: int,
    lookback_days: int | None,
    json_out: Path | None,
    report: Path | None,
    audit_first: bool = False,
    **options: Any,
) -> None:
    """Tune (or judge a candidate, with ``candidate`` among ``options``) through the desk and show the session;
    with ``audit_first``, audit the applied versions before and warn of each flagged one."""
    import optuna

    from framework.desk import TuningDesk

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per study would drown the output
    desk = TuningDesk(files, settings, seed=seed, lookback_days=lookback_days)
    if audit_first:
        _audit_before_tune(desk)
    with Stages("loading") as stages:
        outcome = desk.tune(stages, **options)
    print_session(outcome.contents)
    for saved in outcome.report.final_pass.saved_models:
        say(f"model saved: {saved.path} (version {saved.version})")
    if outcome.auto_applied:
        say(f"human_review_required = false: {outcome.auto_applied.message}")
    if json_out:
        write_json(outcome.document, json_out, "session")
    if report:
        from framework.report import render_html_report, session_charts

        render_html_report(outcome.contents, session_charts(outcome.contents), report)
        say(f"report written to {report}")


def _audit_before_tune(desk: TuningDesk) -> None:
    """Audit the applied versions through the desk and warn of each flagged one; an audit that cannot run
    is one warning line and never stops the tune."""
    try:
        with Stages("auditing the applied versions") as stages:
            report = desk.audit(stages)
    except PlaybookTunerError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        why = " ".join([lines[0], "; ".join(lines[1:])]).strip()  # several problems: one line still
        warn(f"the audit of the applied versions could not run, tuning anyway: {why}")
        return
    flagged = report.flagged()
    count = len(report.versions)
    say(f"audit: {count} applied version{'' if count == 1 else 's'}, {len(flagged)} flagged")
    for line in flagged_lines(flagged, report.live_version):
        warn(line)


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
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
    lenient: LenientOption = False,
) -> None:
    """Run the tuners and print their proposals after the safety rules. Nothing is validated or applied."""
    if signals and regenerate_signals_with:
        raise typer.BadParameter("give either --signals or --regenerate-signals")
    import optuna
    from rich.table import Table

    from framework.desk import TuningDesk
    from framework.formatting import risk_text

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = effective_settings(config, freqtrade_config, userdir)
    settings = setup.settings
    files = inputs(trades, signals, candle_folder(prices, setup), playbook)
    kept = None if regenerate_signals_with else files.signals  # the sample's signals give way to rebuilt ones
    desk = TuningDesk(
        tune_files(InputFiles(files.trades, kept, files.prices, files.playbook), None), settings, seed=seed
    )
    with Stages() as stages:
        run = desk.propose(
            stages, strategies=regenerate_signals_with or (), models=models, search_storage=storage, lenient=lenient
        )
    if run.regenerated is not None:
        say(f"regenerated {len(run.regenerated)} signals ({int(run.regenerated['taken'].sum())} taken)")
    result, context, quality = run.tuning, run.context, run.quality
    table = Table(title=f"Proposals for {files.playbook.name} (safety rules applied, not yet validated)")
    for column in ("block", "tuner", "change", "risk", "tuner conf.", "model R2 / MAE", "trials"):
        table.add_column(column, no_wrap=column != "change")
    for safe in result.accepted:
        proposal = safe.proposal
        model = f"{proposal.model.r2:.2f} / {proposal.model.mae:.4f}" if proposal.model else "-"
        change = f"{proposal.parameter}: {proposal.current:g} -> " + ", ".join(f"{c:g}" for c in safe.candidates)
        risks = ", ".join(risk_text(r) for r in safe.risks)
        row = (proposal.regime, proposal.tuner, change, risks, f"{proposal.confidence:.0%}", model)
        table.add_row(*row, str(proposal.n_trials))
    console.print(table)
    for safe in result.accepted:
        say(f"  {safe.proposal.regime} {safe.proposal.parameter}: {safe.proposal.rationale}")
        for note in safe.notes:
            say(f"    safety: {note}")
    say(f"not proposed ({len(result.refused)}):")
    for refusal in result.refused:
        say(f"  {refusal.tuner} {refusal.regime} {refusal.parameter}: {refusal.reason}")
    for saved in result.saved_models:
        say(f"model saved: {saved.path} (version {saved.version})")
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality.parts.items())
    say(f"data quality {quality.score:.0f} % ({parts}); {len(context.trades)} trades")


@app.command("worker")
def worker_command(
    study: Annotated[str, typer.Option(help="Name of the shared study.")],
    storage: Annotated[str, typer.Option(help="Storage URL: sqlite:///f.db, postgresql://..., journal:///f.log.")],
    trials: Annotated[int | None, typer.Option(help="Run this many trials instead of the study's budget.")] = None,
) -> None:
    """Join a shared parameter search (started by a tuner with search_storage set) and run its trials."""
    import optuna

    from framework.search import run_worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = run_worker(study, storage, trials)
    say(
        f"study {study}: {result.n_trials} trials, {result.n_feasible} feasible, "
        f"best {result.best_value:.4f} with {result.best_params} ({result.seconds:.1f} s)"
    )
