"""Validation of a playbook's YAML document: every problem found, each with its dotted key and line.

:class:`DocumentChecker` reads the sections of a loaded document into values (through the schema's
:class:`~framework.playbook.schema.ParameterSpec`) and collects the problems; it knows nothing of
:class:`~framework.playbook.model.Playbook`, which is built from what it read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from framework.errors import InputError, Problem
from framework.playbook.schema import (
    DEFAULT_BOUNDS,
    OPTIONAL_PARAMETERS,
    REQUIRED_PARAMETERS,
    SPECS,
    TUNABLE_PARAMETERS,
    ParameterValue,
    RegimeParameters,
    TableValueError,
    describe_value,
    is_number,
    kind_of,
    suggestion,
)
from framework.playbook.yaml_text import SECTIONS, round_trip_yaml
from framework.regimes import REGIMES

_MUST_GIVE = f"{', '.join(REQUIRED_PARAMETERS)} (the others may be omitted)"


def load_yaml(text: str, source: str) -> Any:
    """The round-trip YAML document in ``text``; ``InputError`` with the line when it is not YAML."""
    try:
        return round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed"
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputError.single(source, f"not valid YAML: {what}{where}", row=mark.line + 1 if mark else None) from None
    except YAMLError as exc:
        raise InputError.single(source, f"not valid YAML: {exc}") from None


class DocumentChecker:
    """Collects the problems of one playbook document and converts valid values."""

    def __init__(self, source: str):
        self.source = source
        self.bounds: dict[str, tuple[float, float]] = dict(DEFAULT_BOUNDS)
        self.problems: list[Problem] = []

    def add(self, message: str, field: str, row: int | None) -> None:
        self.problems.append(Problem(self.source, message, row=row, field=field))

    def unknown_key(self, key: Any, prefix: str, allowed: Iterable[str], row: int | None) -> None:
        allowed = tuple(allowed)
        name = key if isinstance(key, str) else repr(key)
        self.add(
            f"unknown key '{name}'{suggestion(name, allowed)}; allowed: {', '.join(allowed)}",
            prefix + name,
            row,
        )

    def top_level(self, data: CommentedMap) -> None:
        for key in data:
            if key not in SECTIONS:
                self.unknown_key(key, "", SECTIONS, row_of(data, key))

    def bounds_section(self, section: Any, row: int | None) -> None:
        if section is None:
            return
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of parameter: [min, max], got {kind_of(section)}", "bounds", row)
            return
        for key, value in section.items():
            dotted, key_row = f"bounds.{key}", row_of(section, key)
            if key not in TUNABLE_PARAMETERS:
                if key in SPECS:
                    allowed = ", ".join(TUNABLE_PARAMETERS)
                    self.add(f"{key} takes no bounds; bounds apply to: {allowed}", dotted, key_row)
                else:
                    self.unknown_key(key, "bounds.", TUNABLE_PARAMETERS, key_row)
                continue
            pair = self._bound_pair(value, dotted, key_row)
            if pair is None:
                continue
            low, high = pair
            valid = SPECS[key].valid
            assert valid is not None
            if low >= high:
                self.add(f"min {low:g} must be below max {high:g}", dotted, key_row)
            elif not (valid.contains(low) and valid.contains(high)):
                self.add(
                    f"[{low:g}, {high:g}] leaves the valid range of {key} {valid.describe()}",
                    dotted,
                    key_row,
                )
            else:
                self.bounds[key] = (low, high)

    def _bound_pair(self, value: Any, dotted: str, row: int | None) -> tuple[float, float] | None:
        if not isinstance(value, CommentedSeq | list) or len(value) != 2:
            self.add(f"must be a list [min, max] of two numbers, got {describe_value(value)}", dotted, row)
            return None
        if not all(is_number(v) and abs(float(v)) < float("inf") for v in value):
            self.add(f"min and max must be finite numbers, got {describe_value(value)}", dotted, row)
            return None
        return float(value[0]), float(value[1])

    def default_block(self, data: CommentedMap) -> RegimeParameters | None:
        if "default" not in data:
            self.add(f"missing the 'default' block, which must give {_MUST_GIVE}", "default", 1)
            return None
        block, row = data["default"], row_of(data, "default")
        if not isinstance(block, CommentedMap):
            self.add(f"must be a mapping of parameters, got {describe_value(block)}", "default", row)
            return None
        values = {**OPTIONAL_PARAMETERS, **self.parameter_block(block, "default.")}
        missing = [p for p in REQUIRED_PARAMETERS if p not in block]
        if missing:
            self.add(f"missing {', '.join(missing)}; the default block must give {_MUST_GIVE}", "default", row)
        if missing or len(values) != len(SPECS):
            return None
        return RegimeParameters(**values)  # type: ignore[arg-type]

    def regimes_section(self, section: Any, row: int | None) -> dict[str, dict[str, ParameterValue]]:
        if section is None:
            return {}
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of regime: parameters, got {describe_value(section)}", "regimes", row)
            return {}
        overrides: dict[str, dict[str, ParameterValue]] = {}
        for regime, block in section.items():
            regime_row = row_of(section, regime)
            if regime not in REGIMES:
                name = regime if isinstance(regime, str) else repr(regime)
                valid = ", ".join(REGIMES)
                self.add(
                    f"unknown regime '{name}'{suggestion(name, REGIMES)}; valid regimes: {valid}",
                    f"regimes.{name}",
                    regime_row,
                )
                continue
            if block is None:
                overrides[regime] = {}
            elif isinstance(block, CommentedMap):
                overrides[regime] = self.parameter_block(block, f"regimes.{regime}.")
            else:
                self.add(
                    f"must be a mapping of parameters, got {describe_value(block)}",
                    f"regimes.{regime}",
                    regime_row,
                )
        return overrides

    def weights_section(self, section: Any, row: int | None) -> dict[str, float]:
        if section is None:
            return {}
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of strategy: weight, got {describe_value(section)}", "strategy_weights", row)
            return {}
        weights: dict[str, float] = {}
        for strategy, weight in section.items():
            dotted, key_row = f"strategy_weights.{strategy}", row_of(section, strategy)
            if not isinstance(strategy, str):
                self.add(f"a strategy name must be text, got {strategy!r}", dotted, key_row)
            elif not (is_number(weight) and abs(float(weight)) < float("inf")):
                self.add(f"must be a number >= 0, got {describe_value(weight)}", dotted, key_row)
            elif weight < 0:
                self.add(f"weight {weight:g} is negative; weights must be >= 0", dotted, key_row)
            else:
                weights[strategy] = float(weight)
        return weights

    def parameter_block(self, block: CommentedMap, prefix: str) -> dict[str, ParameterValue]:
        values: dict[str, ParameterValue] = {}
        for key, raw in block.items():
            dotted, row = prefix + str(key), row_of(block, key)
            if key not in SPECS:
                self.unknown_key(key, prefix, SPECS, row)
                continue
            try:
                values[key] = SPECS[key].validated(raw, self.bounds)
            except TableValueError as exc:
                step_row = row_of(raw, exc.key) if isinstance(raw, CommentedMap) else None
                self.add(str(exc), f"{dotted}.{exc.key}", step_row or row)
            except ValueError as exc:
                self.add(str(exc), dotted, row)
        return values


def row_of(mapping: CommentedMap, key: Any) -> int | None:
    """1-based line of ``key`` in ``mapping``, when ruamel knows it."""
    try:
        line: int = mapping.lc.key(key)[0]
    except (KeyError, TypeError, AttributeError):
        return None
    return line + 1
