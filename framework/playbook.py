"""The playbook: the bot's parameters per market regime, read from YAML and edited back into it.

A playbook has a ``default`` block with every required parameter (:data:`REQUIRED_PARAMETERS`; the
others take their value from :data:`OPTIONAL_PARAMETERS`), optional ``regimes`` blocks that override
some of them, optional ``strategy_weights`` and optional ``bounds`` that limit what a value (and so a
tuner) may be. Fractions, never percent: ``stop_loss: 0.02`` is 2% of the entry price.

Parsing keeps the original text; :meth:`Playbook.with_changes` edits that text through ruamel.yaml's
round trip (:mod:`framework.playbook_yaml`), so comments, key order and untouched values survive.
Every problem found in a file is reported in one :class:`~framework.errors.InputError` naming the
dotted key and the YAML line.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from numbers import Integral, Real
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from framework.errors import InputError, Problem
from framework.playbook_yaml import SECTIONS, ScalarEdit, edit_playbook_text, round_trip_yaml
from framework.regimes import REGIMES

TUNABLE_PARAMETERS = (
    "leverage",
    "stop_loss",
    "risk_reward_ratio",
    "confidence_threshold",
    "position_size",
)
PARAMETERS = (*TUNABLE_PARAMETERS, "max_hold")
OPTIONAL_PARAMETERS: dict[str, pd.Timedelta | None] = {"max_hold": None}
"""Parameters the ``default`` block may omit, with the value they then take (``max_hold``: no limit)."""
REQUIRED_PARAMETERS = tuple(p for p in PARAMETERS if p not in OPTIONAL_PARAMETERS)
"""Parameters the ``default`` block must give: they have no natural default."""
_MUST_GIVE = f"{', '.join(REQUIRED_PARAMETERS)} (max_hold may be omitted: no limit)"
DEFAULT_REGIME = "default"
STRATEGY_WEIGHTS = "strategy_weights"
"""Pseudo-regime of a :class:`ParameterChange` that sets a strategy's weight (``parameter`` = strategy)."""

DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "leverage": (1.0, 20.0),
    "stop_loss": (0.001, 0.5),
    "risk_reward_ratio": (0.2, 20.0),
    "confidence_threshold": (0.0, 1.0),
    "position_size": (0.001, 1.0),
}
"""Inclusive [min, max] per tunable parameter unless the playbook's ``bounds`` section says otherwise."""

ParameterValue: TypeAlias = float | pd.Timedelta | None

_NS_PER_UNIT = {
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86_400 * 10**9,
    "w": 7 * 86_400 * 10**9,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


@dataclass(frozen=True)
class _Range:
    """A parameter's range of meaningful values, independent of any playbook's bounds."""

    low: float
    high: float
    low_open: bool
    high_open: bool

    def contains(self, x: float) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below

    def describe(self) -> str:
        if math.isinf(self.high):
            return f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


_VALID_RANGES = {
    "leverage": _Range(0.0, math.inf, low_open=True, high_open=True),
    "stop_loss": _Range(0.0, 1.0, low_open=True, high_open=True),
    "risk_reward_ratio": _Range(0.0, math.inf, low_open=True, high_open=True),
    "confidence_threshold": _Range(0.0, 1.0, low_open=False, high_open=False),
    "position_size": _Range(0.0, 1.0, low_open=True, high_open=False),
}


@dataclass(frozen=True)
class RegimeParameters:
    """The effective parameters for one regime. Fractions, not percent.

    ``stop_loss`` is a fraction of the entry price; the take-profit distance is
    ``stop_loss * risk_reward_ratio``; ``position_size`` is the fraction of equity committed as margin
    per trade; ``confidence_threshold`` is in [0, 1]; ``max_hold`` is ``None`` for no time limit.
    """

    leverage: float
    stop_loss: float
    risk_reward_ratio: float
    confidence_threshold: float
    position_size: float
    max_hold: pd.Timedelta | None


@dataclass(frozen=True)
class ParameterChange:
    """Set ``parameter`` of ``regime`` (``"default"`` or a regime name) to ``value``.

    ``value`` is a number for the tunable parameters and a ``pd.Timedelta`` or ``None`` (no limit)
    for ``max_hold``. With ``regime`` = :data:`STRATEGY_WEIGHTS`, ``parameter`` names a strategy and
    ``value`` is its weight (>= 0).
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

    Build one with :func:`parse_playbook` or :func:`load_playbook`. ``overrides`` holds only the keys
    each regime block gives; ``bounds`` is the effective [min, max] per tunable parameter (the file's
    ``bounds`` over :data:`DEFAULT_BOUNDS`). Two playbooks are equal when their text and source are.
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
        if parameter not in PARAMETERS:
            raise ValueError(f"unknown parameter '{parameter}'; parameters are: {', '.join(PARAMETERS)}")
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
            if not _is_number(change.value) or not 0 <= float(change.value) < math.inf:  # type: ignore[arg-type]
                message = f"a strategy weight must be a number >= 0, got {_describe(change.value)}"
                return [Problem(self.source, message, field=change.dotted_key)]
            return []
        valid_regimes = (DEFAULT_REGIME, *REGIMES)
        if change.regime not in valid_regimes:
            message = f"unknown regime '{change.regime}'; valid: {', '.join(valid_regimes)}"
            return [Problem(self.source, message, field=change.dotted_key)]
        if change.parameter not in PARAMETERS:
            message = f"unknown parameter '{change.parameter}'{_suggestion(change.parameter, PARAMETERS)}"
            return [Problem(self.source, message, field=change.dotted_key)]
        checker = _Checker(self.source, self.bounds)
        if change.parameter == "max_hold":
            if change.value is not None and not isinstance(change.value, pd.Timedelta):
                checker.add("max_hold must be a pd.Timedelta or None (no limit)", change.dotted_key, None)
            elif change.value is not None and change.value <= pd.Timedelta(0):
                checker.add("max_hold must be a positive duration", change.dotted_key, None)
        else:
            checker.number(change.parameter, change.value, change.dotted_key, None)
        return checker.problems


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    """Parse and validate playbook YAML. ``source`` names the file in error messages.

    Raises ``InputError`` listing every problem found, each with the dotted key as field and the
    1-based YAML line as row.
    """
    data = _load_yaml(text, source)
    if not isinstance(data, CommentedMap):
        kind = "empty" if data is None else f"a {_kind(data)}"
        raise InputError.single(
            source, f"the playbook must be a mapping with a 'default' block, but it is {kind}", row=1
        )
    checker = _Checker(source, dict(DEFAULT_BOUNDS))
    for key in data:
        if key not in SECTIONS:
            checker.unknown_key(key, "", SECTIONS, _row(data, key))
    if "bounds" in data:
        checker.bounds_section(data["bounds"], _row(data, "bounds"))
    default = checker.default_block(data)
    overrides = checker.regimes_section(data["regimes"], _row(data, "regimes")) if "regimes" in data else {}
    weights: dict[str, float] = {}
    if "strategy_weights" in data:
        weights = checker.weights_section(data["strategy_weights"], _row(data, "strategy_weights"))
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


def parse_duration(text: str | None) -> pd.Timedelta | None:
    """Parse a max_hold duration: a number and one unit of s, m, h, d, w (``90m``, ``48h``, ``1.5d``).

    ``None`` or blank text means no limit and returns ``None``. Raises ``ValueError`` otherwise.
    """
    if text is None or not text.strip():
        return None
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"'{text}' is not a duration; write a number and a unit of s, m, h, d or w (e.g. 90m, 48h, 2d)"
        )
    number, unit = match.groups()
    nanoseconds = int(Decimal(number) * _NS_PER_UNIT[unit])
    if nanoseconds <= 0:
        raise ValueError(f"'{text}' is not a positive duration")
    return pd.Timedelta(nanoseconds, unit="ns")


def format_duration(td: pd.Timedelta | None) -> str:
    """Render a duration the way :func:`parse_duration` reads it: whole hours as ``48h``, else whole
    minutes (``90m``), else seconds (``1.5s``). ``None`` (no limit) renders as the empty string."""
    if td is None:
        return ""
    nanoseconds = pd.Timedelta(td).value
    if nanoseconds <= 0:
        raise ValueError(f"a max_hold duration must be positive, got {td}")
    for unit in ("h", "m", "s"):
        count, remainder = divmod(nanoseconds, _NS_PER_UNIT[unit])
        if remainder == 0:
            return f"{count}{unit}"
    seconds = Decimal(nanoseconds) / Decimal(_NS_PER_UNIT["s"])
    return f"{seconds:f}".rstrip("0") + "s"


class _Checker:
    """Collects the problems of one playbook and converts valid values."""

    def __init__(self, source: str, bounds: dict[str, tuple[float, float]]):
        self.source = source
        self.bounds = bounds
        self.problems: list[Problem] = []

    def add(self, message: str, field: str, row: int | None) -> None:
        self.problems.append(Problem(self.source, message, row=row, field=field))

    def unknown_key(self, key: Any, prefix: str, allowed: Iterable[str], row: int | None) -> None:
        allowed = tuple(allowed)
        name = key if isinstance(key, str) else repr(key)
        self.add(
            f"unknown key '{name}'{_suggestion(name, allowed)}; allowed: {', '.join(allowed)}",
            prefix + name,
            row,
        )

    def bounds_section(self, section: Any, row: int | None) -> None:
        if section is None:
            return
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of parameter: [min, max], got {_kind(section)}", "bounds", row)
            return
        for key, value in section.items():
            dotted, key_row = f"bounds.{key}", _row(section, key)
            if key not in TUNABLE_PARAMETERS:
                if key in PARAMETERS:
                    allowed = ", ".join(TUNABLE_PARAMETERS)
                    self.add(f"{key} takes no bounds; bounds apply to: {allowed}", dotted, key_row)
                else:
                    self.unknown_key(key, "bounds.", TUNABLE_PARAMETERS, key_row)
                continue
            pair = self._bound_pair(value, dotted, key_row)
            if pair is None:
                continue
            low, high = pair
            valid = _VALID_RANGES[key]
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
            self.add(f"must be a list [min, max] of two numbers, got {_describe(value)}", dotted, row)
            return None
        if not all(_is_number(v) and math.isfinite(v) for v in value):
            self.add(f"min and max must be finite numbers, got {_describe(value)}", dotted, row)
            return None
        return float(value[0]), float(value[1])

    def default_block(self, data: CommentedMap) -> RegimeParameters | None:
        if "default" not in data:
            self.add(f"missing the 'default' block, which must give {_MUST_GIVE}", "default", 1)
            return None
        block, row = data["default"], _row(data, "default")
        if not isinstance(block, CommentedMap):
            self.add(f"must be a mapping of parameters, got {_describe(block)}", "default", row)
            return None
        values = {**OPTIONAL_PARAMETERS, **self.parameter_block(block, "default.")}
        missing = [p for p in REQUIRED_PARAMETERS if p not in block]
        if missing:
            self.add(f"missing {', '.join(missing)}; the default block must give {_MUST_GIVE}", "default", row)
        if missing or len(values) != len(PARAMETERS):
            return None
        return RegimeParameters(**values)  # type: ignore[arg-type]

    def regimes_section(self, section: Any, row: int | None) -> dict[str, dict[str, ParameterValue]]:
        if section is None:
            return {}
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of regime: parameters, got {_describe(section)}", "regimes", row)
            return {}
        overrides: dict[str, dict[str, ParameterValue]] = {}
        for regime, block in section.items():
            regime_row = _row(section, regime)
            if regime not in REGIMES:
                name = regime if isinstance(regime, str) else repr(regime)
                valid = ", ".join(REGIMES)
                self.add(
                    f"unknown regime '{name}'{_suggestion(name, REGIMES)}; valid regimes: {valid}",
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
                    f"must be a mapping of parameters, got {_describe(block)}",
                    f"regimes.{regime}",
                    regime_row,
                )
        return overrides

    def weights_section(self, section: Any, row: int | None) -> dict[str, float]:
        if section is None:
            return {}
        if not isinstance(section, CommentedMap):
            self.add(f"must be a mapping of strategy: weight, got {_describe(section)}", "strategy_weights", row)
            return {}
        weights: dict[str, float] = {}
        for strategy, weight in section.items():
            dotted, key_row = f"strategy_weights.{strategy}", _row(section, strategy)
            if not isinstance(strategy, str):
                self.add(f"a strategy name must be text, got {strategy!r}", dotted, key_row)
            elif not (_is_number(weight) and math.isfinite(weight)):
                self.add(f"must be a number >= 0, got {_describe(weight)}", dotted, key_row)
            elif weight < 0:
                self.add(f"weight {weight:g} is negative; weights must be >= 0", dotted, key_row)
            else:
                weights[strategy] = float(weight)
        return weights

    def parameter_block(self, block: CommentedMap, prefix: str) -> dict[str, ParameterValue]:
        values: dict[str, ParameterValue] = {}
        for key, raw in block.items():
            dotted, row = prefix + str(key), _row(block, key)
            if key not in PARAMETERS:
                self.unknown_key(key, prefix, PARAMETERS, row)
            elif key == "max_hold":
                ok, duration = self.max_hold(raw, dotted, row)
                if ok:
                    values[key] = duration
            else:
                number = self.number(key, raw, dotted, row)
                if number is not None:
                    values[key] = number
        return values

    def max_hold(self, raw: Any, dotted: str, row: int | None) -> tuple[bool, pd.Timedelta | None]:
        if raw is None:
            return True, None
        if not isinstance(raw, str):
            self.add(
                f"must be a duration with a unit (e.g. 90m, 48h, 2d) or empty for no limit, got {_describe(raw)}",
                dotted,
                row,
            )
            return False, None
        try:
            return True, parse_duration(raw)
        except ValueError as exc:
            self.add(str(exc), dotted, row)
            return False, None

    def number(self, parameter: str, raw: Any, dotted: str, row: int | None) -> float | None:
        valid = _VALID_RANGES[parameter]
        if not _is_number(raw):
            self.add(f"must be a number in {valid.describe()}, got {_describe(raw)}", dotted, row)
            return None
        value = float(raw)
        if not (math.isfinite(value) and valid.contains(value)):
            self.add(f"{value:g} is out of range; {parameter} must be in {valid.describe()}", dotted, row)
            return None
        low, high = self.bounds[parameter]
        if not low <= value <= high:
            self.add(
                f"{value:g} is outside the bounds [{low:g}, {high:g}] for {parameter} "
                "(change them under 'bounds:' if intended)",
                dotted,
                row,
            )
            return None
        return value


def _load_yaml(text: str, source: str) -> Any:
    try:
        return round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed"
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputError.single(source, f"not valid YAML: {what}{where}", row=mark.line + 1 if mark else None) from None
    except YAMLError as exc:
        raise InputError.single(source, f"not valid YAML: {exc}") from None


def _scalar_edit(change: ParameterChange) -> ScalarEdit:
    if change.regime in (DEFAULT_REGIME, STRATEGY_WEIGHTS):
        path: tuple[str, ...] = (change.regime,)
    else:
        path = ("regimes", change.regime)
    return ScalarEdit(path, change.parameter, _yaml_value(change), _normalised(change))


def _scalar_meaning(parameter: str, raw: Any) -> object:
    """What a value already in the file means, to compare with :func:`_normalised`."""
    if parameter == "max_hold":
        return parse_duration(raw)
    return float(raw)


def _normalised(change: ParameterChange) -> object:
    if change.parameter == "max_hold" or change.value is None:
        return change.value
    return float(change.value)


def _yaml_value(change: ParameterChange) -> Any:
    value = change.value
    if change.parameter == "max_hold":
        return format_duration(value) if isinstance(value, pd.Timedelta) else None
    if isinstance(value, Integral):
        return int(value)
    return float(value)  # type: ignore[arg-type]


def _row(mapping: CommentedMap, key: Any) -> int | None:
    try:
        line: int = mapping.lc.key(key)[0]
    except (KeyError, TypeError, AttributeError):
        return None
    return line + 1


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "empty value"
    return type(value).__name__


def _describe(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return _kind(value)
    if isinstance(value, str):
        return f"text '{value}'"
    return f"{_kind(value)} {value}" if isinstance(value, bool) else str(value)


def _suggestion(name: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
