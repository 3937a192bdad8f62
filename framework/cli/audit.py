"""The ``audit`` command: every applied playbook version against the version it replaced, on its live trades."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from framework.cli.common import (
    ConfigOption,
    FreqtradeConfigOption,
    JsonOption,
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
    effective_settings,
    inputs,
    json_to_stdout,
    write_json,
)
from framework.cli.render import print_audit
from framework.cli.tuning import tune_files
from framework.errors import PlaybookTunerError

if TYPE_CHECKING:
    from framework.audit_report import AuditReport


@app.command("audit")
def audit_command(
    version: Annotated[int | None, typer.Argument(help="Show this applied version only.")] = None,
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    json_out: JsonOption = None,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
) -> None:
    """Audit every applied playbook version: the trades the bot made while it was live, replayed under the
    version it replaced and compared per trade, next to what the session that proposed it predicted.

    A version that did worse, with evidence, is flagged (status, tune and the bot say so); nothing is rolled
    back unless you run rollback or press Roll back. The audit is stored; --json writes it.
    """
    from framework.desk import TuningDesk

    check_writable(json_out, "--json")
    json_to_stdout(json_out)
    setup = effective_settings(config, freqtrade_config, userdir)
    files = inputs(trades, signals, candle_folder(prices, setup), playbook)
    desk = TuningDesk(tune_files(files, store), setup.settings)
    with Stages("auditing the applied versions") as stages:
        report = desk.audit(stages)
    if version is not None:
        report = narrowed(report, version)
    print_audit(report)
    if json_out:
        write_json(report.model_dump(mode="json"), json_out, "audit")


def narrowed(report: AuditReport, version: int) -> AuditReport:
    """``report`` with ``version`` alone, and the stability of the parameters it changed; the accuracy stays
    the whole audit's. A PlaybookTunerError naming the audited versions when ``version`` is not one."""
    audit = report.of(version)
    if audit is None:
        audited = ", ".join(str(a.version) for a in report.versions) or "none"
        raise PlaybookTunerError(f"version {version} is not an applied version of this store (audited: {audited})")
    changed = {(change.regime, change.parameter) for change in audit.changes}
    stability = tuple(entry for entry in report.stability if (entry.regime, entry.parameter) in changed)
    return report.model_copy(update={"versions": (audit,), "stability": stability})
