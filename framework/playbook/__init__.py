"""The playbook: the bot's parameters per market regime, read from YAML and edited back into it.

A playbook has a ``default`` block with every required parameter (the others take their schema
default), optional ``regimes`` blocks that override some of them, optional ``strategy_weights`` and
optional ``bounds`` that limit what a value (and so a tuner) may be. Fractions, never percent:
``stop_loss: 0.02`` is 2% of the entry price. Every problem found in a file is reported in one
:class:`~framework.errors.InputError` naming the dotted key and the YAML line.

- :mod:`~framework.playbook.schema`: each parameter described once (:data:`SPECS`);
- :mod:`~framework.playbook.checks`: validation of a YAML document against it;
- :mod:`~framework.playbook.model`: :class:`Playbook`, :class:`ParameterChange`, parsing and edits;
- :mod:`~framework.playbook.yaml_text`: the comment-keeping round trip of the text.
"""

from framework.playbook.model import (
    DEFAULT_REGIME,
    STRATEGY_WEIGHTS,
    ParameterChange,
    Playbook,
    load_playbook,
    parse_playbook,
)
from framework.playbook.schema import (
    DEFAULT_BOUNDS,
    KERNEL_DTYPE,
    OPTIONAL_PARAMETERS,
    PARAMETERS,
    REQUIRED_PARAMETERS,
    SPECS,
    TUNABLE_PARAMETERS,
    ParameterSpec,
    ParameterValue,
    RegimeParameters,
    format_duration,
    kernel_record,
    parse_duration,
)
from framework.playbook.yaml_text import SECTIONS

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_REGIME",
    "KERNEL_DTYPE",
    "OPTIONAL_PARAMETERS",
    "PARAMETERS",
    "REQUIRED_PARAMETERS",
    "SECTIONS",
    "SPECS",
    "STRATEGY_WEIGHTS",
    "TUNABLE_PARAMETERS",
    "ParameterChange",
    "ParameterSpec",
    "ParameterValue",
    "Playbook",
    "RegimeParameters",
    "format_duration",
    "kernel_record",
    "load_playbook",
    "parse_duration",
    "parse_playbook",
]
