"""A session as the terminal shows it (``tune``, ``validate``, ``show``)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from framework.cli.common import console, say
from framework.formatting import RISK_ICONS, evidence_lines


def print_session(document: dict[str, Any], statuses: dict[str, str] | None = None) -> None:
    """Validated changes per regime, then the rejected ones, the headline when nothing validated, and
    data quality. ``statuses`` (by item id) marks each change's decision, for ``show``."""
    recommendations = document["recommendations"]
    say(f"\nsession {document['session_id']}: {len(recommendations)} validated changes")
    for regime in dict.fromkeys(r["regime"] for r in recommendations):
        console.print(f"[bold]{escape(regime)}[/]", markup=True)
        for item in (r for r in recommendations if r["regime"] == regime):
            status = f"  [{statuses[item['id']]}]" if statuses else ""
            validation = item["validation"]
            say(
                f"  {RISK_ICONS[item['risk']]} {item['id']} {item['parameter']}: {item['current']:g} → "
                f"{item['proposed']:g} ({item['risk']} risk, confidence {item['confidence']:.0%}, "
                f"p={validation['p_value']:.3f}, DSR {validation['dsr']:.2f}){status}"
            )
            for line in evidence_lines(validation.get("evidence") or {}):
                say(f"      {line}")
    rejected = document["rejected"]
    say(f"rejected ({len(rejected)}):")
    for entry in rejected:
        say(f"  {entry['regime']}.{entry['parameter']} ({entry['tuner']}): {entry['reason']}")
    if document.get("headline"):
        say(document["headline"])
    quality = document["data_quality"]
    parts = ", ".join(f"{name} {value:.0f} %" for name, value in quality["parts"].items())
    say(f"data quality {quality['score']:.0f} % ({parts}); {document['trades_analyzed']} trades analysed")
    if recommendations and statuses is None:
        say(f"approve with: playbook-tuner apply {document['session_id']} [--safe-only | --items r1,r2]")
