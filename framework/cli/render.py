"""A session as the terminal shows it (``tune``, ``validate``, ``show``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from framework.cli.common import console, say
from framework.formatting import RISK_ICONS, evidence_lines, number_text, value_text

if TYPE_CHECKING:
    from framework.session import Session


def print_session(session: Session, statuses: dict[str, str] | None = None) -> None:
    """Validated changes per regime, then the rejected ones, the headline when nothing validated, and
    data quality. ``statuses`` (by item id) marks each change's decision, for ``show``."""
    recommendations = session.recommendations
    say(f"\nsession {session.session_id}: {len(recommendations)} validated changes")
    for regime in dict.fromkeys(r.regime for r in recommendations):
        console.print(f"[bold]{escape(regime)}[/]", markup=True)
        for item in (r for r in recommendations if r.regime == regime):
            status = f"  [{statuses[item.id]}]" if statuses else ""
            validation = item.validation
            p_value, dsr = (validation.p_value, validation.dsr) if validation else (None, None)
            say(
                f"  {RISK_ICONS[item.risk]} {item.id} {item.parameter}: {value_text(item.current)} → "
                f"{value_text(item.proposed)} ({item.risk} risk, confidence {item.confidence:.0%}, "
                f"p={number_text(p_value, '.3f')}, DSR {number_text(dsr, '.2f')}){status}"
            )
            for line in evidence_lines(validation.evidence if validation else {}):
                say(f"      {line}")
    say(f"rejected ({len(session.rejected)}):")
    for entry in session.rejected:
        say(f"  {entry.regime}.{entry.parameter} ({entry.tuner}): {entry.reason}")
    if session.headline:
        say(session.headline)
    quality = session.data_quality
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality.parts.items())
    say(f"data quality {number_text(quality.score, '.0f', ' %')} ({parts}); {session.trades_analyzed} trades analysed")
    if recommendations and statuses is None:
        say(f"approve with: playbook-tuner apply {session.session_id} [--safe-only | --items r1,r2]")
