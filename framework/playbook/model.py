"""A parsed playbook, how it is read from YAML, and the changes a session makes to it.

:meth:`Playbook.with_changes` edits the playbook's own YAML text through ruamel.yaml's round trip
(:mod:`framework.playbook.yaml_text`), so comments, key order and untouched values survive, and
validates the result like a file.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from numbers import Integral
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml.comments import CommentedMap

from framework.errors import InputError, Problem
from framework.playbook.checks import DocumentChecker, load_yaml, row_of
from framework.playbook.schema import (
    SPECS,
    ParameterValue,
    RegimeParameters,
    describe_value,
    is_number,
    kind_of,
    suggestion,
)
from framework.playbook.yaml_text import ScalarEdit, edit_playbook_text
from framework.regimes import REGIMES

DEFAULT_REGIME = "default"
STRATEGY_WEIGHTS = "strategy_weights"
"""Pseudo-regime of a :class:`ParameterChange` that sets a strategy's weight (``parameter`` = strategy)."""


@dataclass(frozen=True)
class ParameterChange:
    """Set ``parameter`` of ``regime`` (``"default"`` or a regime name) to ``value``.

    ``value`` is what the parameter's :class:`~framework.playbook.schema.ParameterSpec` reads (a
    number, a ``pd.Timedelta`` or ``None`` for ``max_hold``, a bool for a switch). With ``regime`` =
    :data:`STRATEGY_WEIGHTS`, ``parameter`` names a strategy and ``value`` is its weight (>= 0).
    """

    regime: str
    parameter: str
    value: ParameterValue

    @property
    def dotted_key(self) -> str:
        """The dotted key this change edits, e.g. ``regimes.volatile.leverage``."""
        if self.regime in (DEFAULT_REGIME, STRATEGY_WEIGHTS):
            return f"{self.regime}.{self.parameter}"
        return f"regimes.{self.regime}.{self.parameter}"


@dataclass(frozen=True)
class Playbook:
    """A parsed, valid playbook together with the YAML text it came from.

    Build one with :func:`~framework.playbook.checks.parse_playbook` or ``load_playbook``.
    ``overrides`` holds only the keys each regime block gives; ``bounds`` is the effective [min, max]
    per tunable parameter (the file's ``bounds`` over the schema's defaults). Two playbooks are equal
    when their text and source are.
    """

    default: RegimeParameters = field(compare=False)
    overrides: dict[str, dict[str, ParameterValue]] = field(compare=False)
    strategy_weights: dict[str, float] = field(compare=False)
    bounds: dict[str, tuple[float, float]] = field(compare=False)
    text: str
    source: str
    _by_regime: dict[str, RegimeParameters] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        resolved = {
            regime: replace(self.default, **values)  # type: ignore[arg-type]
            for regime, values in self.overrides.items()
        }
        object.__setattr__(self, "_by_regime", resolved)

    def parameters_for(self, regime: str | None) -> RegimeParameters:
        """Effective parameters of ``regime``: its block over the default; the default for ``None``
        (a trade with no regime) and for regimes the playbook does not list."""
        if regime is None:
            return self.default
        return self._by_regime.get(regime, self.default)

    def value(self, regime: str, parameter: str) -> ParameterValue:
        """Effective value of ``parameter`` in ``regime`` (``"default"`` for the default block)."""
        if parameter not in SPECS:
            raise ValueError(f"unknown parameter '{parameter}'; parameters are: {', '.join(SPECS)}")
        parameters = self.default if regime == DEFAULT_REGIME else self.parameters_for(regime)
        result: ParameterValue = getattr(parameters, parameter)
        return result

    def strategy_weight(self, strategy: str) -> float:
        """Weight (>= 0) scaling the margin of ``strategy``'s trades; 1.0 when the playbook omits it."""
        return self.strategy_weights.get(strategy, 1.0)

    def sha256(self) -> str:
        """Hex SHA-256 of the playbook's text encoded as UTF-8 (what a file with this text hashes to)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def with_changes(self, changes: Iterable[ParameterChange]) -> Playbook:
        """A new playbook with ``changes`` applied to the YAML text.

        Comments, key order and every value not named keep their text; a regime block (or the
        ``regimes`` section) is created when missing. The result is validated like a file, bounds
        included; on any problem an ``InputError`` is raised and nothing changes (``self`` is frozen).
        """
        changes = list(changes)
        if not changes:
            return self
        problems = [p for change in changes for p in self._check_change(change)]
        if problems:
            raise InputError(problems)
        edits = [_scalar_edit(change) for change in changes]
        return parse_playbook(edit_playbook_text(self.text, edits, _scalar_meaning), self.source)

    def _check_change(self, change: ParameterChange) -> list[Problem]:
        if change.regime == STRATEGY_WEIGHTS:
            if not is_number(change.value) or not 0 <= float(change.value) < math.inf:  # type: ignore[arg-type]
                message = f"a strategy weight must be a number >= 0, got {describe_value(change.value)}"
                return [Problem(self.source, message, field=change.dotted_key)]
            return []
        valid_regimes = (DEFAULT_REGIME, *REGIMES)
        if change.regime not in valid_regimes:
            message = f"unknown regime '{change.regime}'; valid: {', '.join(valid_regimes)}"
            return [Problem(self.source, message, field=change.dotted_key)]
        if change.parameter not in SPECS:
            message = f"unknown parameter '{change.parameter}'{suggestion(change.parameter, SPECS)}"
            return [Problem(self.source, message, field=change.dotted_key)]
        spec = SPECS[change.parameter]
        if spec.kind == "duration" and not isinstance(change.value, pd.Timedelta | None):
            message = f"{spec.name} must be a pd.Timedelta or None ({spec.absent})"
            return [Problem(self.source, message, field=change.dotted_key)]
        try:
            spec.validated(change.value, self.bounds)
        except ValueError as exc:
            return [Problem(self.source, str(exc), field=change.dotted_key)]
        return []


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Parse and validate playbook YAML. ``source`` names the file in error messages.

    Raises ``InputError`` listing every problem found, each with the dotted key as field and the
    1-based YAML line as row.
    """
    data = load_yaml(text, source)
    if not isinstance(data, CommentedMap):
        kind = "empty" if data is None else f"a {kind_of(data)}"
        raise InputError.single(
            source, f"the playbook must be a mapping with a 'default' block, but it is {kind}", row=1
        )
    checker = DocumentChecker(source)
    checker.top_level(data)
    if "bounds" in data:
        checker.bounds_section(data["bounds"], row_of(data, "bounds"))
    default = checker.default_block(data)
    overrides = checker.regimes_section(data["regimes"], row_of(data, "regimes")) if "regimes" in data else {}
    weights: dict[str, float] = {}
    if "strategy_weights" in data:
        weights = checker.weights_section(data["strategy_weights"], row_of(data, "strategy_weights"))
    if checker.problems or default is None:
        raise InputError(checker.problems)
    return Playbook(
        default=default,
        overrides=overrides,
        strategy_weights=weights,
        bounds=checker.bounds,
        text=text,
        source=source,
    )


def load_playbook(path: Path) -> Playbook:
    """Read and parse the playbook file at ``path`` (UTF-8; line endings kept as they are)."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError.single(name, "playbook file not found") from None
    except OSError as exc:
        raise InputError.single(name, f"cannot read the playbook: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.single(name, f"not UTF-8 text (byte {exc.start})") from None
    return parse_playbook(text, name)


def _scalar_edit(change: ParameterChange) -> ScalarEdit:
    if change.regime in (DEFAULT_REGIME, STRATEGY_WEIGHTS):
        path: tuple[str, ...] = (change.regime,)
        spec = None if change.regime == STRATEGY_WEIGHTS else SPECS[change.parameter]
    else:
        path = ("regimes", change.regime)
        spec = SPECS[change.parameter]
    if spec is None:
        weight = change.value
        scalar = int(weight) if isinstance(weight, Integral) else float(weight)  # type: ignore[arg-type]
        return ScalarEdit(path, change.parameter, scalar, float(weight))  # type: ignore[arg-type]
    return ScalarEdit(path, change.parameter, spec.yaml_scalar(change.value), spec.read(change.value))


def _scalar_meaning(key: str, raw: Any) -> object:
    """What a value already in the file means, to compare with an edit's meaning."""
    spec = SPECS.get(key)
    return float(raw) if spec is None else spec.read(raw)
