"""The playbook's parameters, each described once.

:data:`SPECS` is the one list of what a playbook block may set. Every other part derives from
it: the playbook's validation and YAML edits (:mod:`framework.playbook.checks`), the kernel's table of
candidates (:data:`KERNEL_DTYPE`, filled by :func:`kernel_row`), the safety rules (bounds and the risk
direction), the searches (what may be searched) and the gate (which test judges a change).

Adding a parameter is an entry here, a field of :class:`RegimeParameters`, and the rule that uses it
in the replay kernel.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from numbers import Integral, Real
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedMap

RoiTable: TypeAlias = tuple[tuple[int, float], ...]
"""freqtrade's ``minimal_roi``: (whole minutes since entry, least profit ratio) steps, sorted by minutes."""
ParameterValue: TypeAlias = float | bool | pd.Timedelta | RoiTable | None

ROI_STEPS = 16
"""The most steps a ``minimal_roi`` table may have (the kernel's records hold this many)."""

_NS_PER_UNIT = {
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86_400 * 10**9,
    "w": 7 * 86_400 * 10**9,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


@dataclass(frozen=True)
class ValueRange:
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


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter the playbook's ``default`` block must give."""

Kind = Literal["number", "duration", "switch", "table"]
Test = Literal["growth", "return", "quality"]


@dataclass(frozen=True)
class ParameterSpec:
    """One playbook parameter: what it means, what values it takes, and how the rest treats it.

    - ``kind``: ``number`` (a float in ``valid``), ``duration`` (``90m``, ``48h``; a ``pd.Timedelta``),
      ``switch`` (true/false) or ``table`` (freqtrade's ROI table: a mapping of whole minutes to
      ratios, a :data:`RoiTable`). ``optional`` lets the value be empty (``None``), meaning ``absent``.
    - ``default``: the value when the ``default`` block omits it, or :data:`REQUIRED`.
    - ``bounds``: the default [min, max] a value (and so a tuner or a search) may take; ``None`` for a
      parameter that is not tuned by number (a switch, a duration).
    - ``risk_direction``: +1 when raising it adds risk (more at stake, larger losses, more trades), -1
      when lowering it does, 0 when neither is clearly riskier.
    - ``test``: which of :mod:`framework.judging`'s tests judges a change (``growth``: log growth per
      trade; ``return``: return per trade; ``quality``: the trades it admits against those it keeps).
    - ``risk_adjusted``: the gate compares daily returns scaled to the current playbook's volatility
      (False for leverage, judged on log growth itself).
    - ``scales_exposure``: the value multiplies each trade's share of equity at stake.
    - ``admits_untaken``: moving it this way (-1 lower, +1 higher) lets in trades the bot did not take,
      which only a signal log can show.
    """

    name: str
    kind: Kind
    unit: str
    description: str
    valid: ValueRange | None = None
    default: Any = REQUIRED
    optional: bool = False
    absent: str = ""
    bounds: tuple[float, float] | None = None
    risk_direction: int = 0
    test: Test = "return"
    risk_adjusted: bool = True
    scales_exposure: bool = False
    admits_untaken: int = 0

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def tunable(self) -> bool:
        return self.bounds is not None

    def expects(self) -> str:
        """What a valid value looks like, for error messages."""
        if self.kind == "duration":
            shape = "a duration with a unit (e.g. 90m, 48h, 2d)"
        elif self.kind == "switch":
            shape = "true or false"
        elif self.kind == "table":
            shape = f"a mapping of minutes since entry (whole, >= 0) to a profit ratio, at most {ROI_STEPS} steps"
        else:
            assert self.valid is not None
            shape = f"a number in {self.valid.describe()}"
        return f"{shape} or empty for {self.absent}" if self.optional else shape

    def read(self, raw: Any) -> ParameterValue:
        """The value a YAML scalar (or a Python value) stands for; ``ValueError`` when it is not valid.

        Bounds are not checked here: they belong to a playbook.
        """
        if raw is None or (isinstance(raw, str) and not raw.strip() and self.kind == "duration"):
            if self.optional:
                return None
            raise ValueError(f"must be {self.expects()}, got empty value")
        if self.kind == "table":
            return _read_roi_table(raw, self)
        if self.kind == "switch":
            if not isinstance(raw, bool | np.bool_):
                raise ValueError(f"must be {self.expects()}, got {describe_value(raw)}")
            return bool(raw)
        if self.kind == "duration":
            if isinstance(raw, pd.Timedelta):
                if raw <= pd.Timedelta(0):
                    raise ValueError(f"{self.name} must be a positive duration")
                return raw
            if not isinstance(raw, str):
                raise ValueError(f"must be {self.expects()}, got {describe_value(raw)}")
            return parse_duration(raw)
        assert self.valid is not None
        if not is_number(raw):
            raise ValueError(f"must be {self.expects()}, got {describe_value(raw)}")
        value = float(raw)
        if not (math.isfinite(value) and self.valid.contains(value)):
            raise ValueError(f"{value:g} is out of range; {self.name} must be in {self.valid.describe()}")
        return value

    def validated(self, raw: Any, bounds: dict[str, tuple[float, float]]) -> ParameterValue:
        """:meth:`read`, then within ``bounds`` (a playbook's effective bounds) when it is tunable."""
        value = self.read(raw)
        if isinstance(value, float) and self.name in bounds:
            low, high = bounds[self.name]
            if not low <= value <= high:
                raise ValueError(
                    f"{value:g} is outside the bounds [{low:g}, {high:g}] for {self.name} "
                    "(change them under 'bounds:' if intended)"
                )
        return value

    def yaml_scalar(self, value: ParameterValue) -> Any:
        """How ``value`` is written in YAML (a duration as ``48h``, a table as a mapping of minutes to
        ratios, none as an empty value)."""
        if value is None:
            return None
        if self.kind == "table":
            assert isinstance(value, tuple)
            table = CommentedMap((minutes, ratio) for minutes, ratio in value)
            table.fa.set_block_style()
            return table
        if self.kind == "duration":
            assert isinstance(value, pd.Timedelta)
            return format_duration(value)
        if self.kind == "switch":
            return bool(value)
        assert isinstance(value, Real)
        return int(value) if isinstance(value, Integral) else float(value)

    def kernel_fields(self, value: ParameterValue) -> dict[str, Any]:
        """The value as the replay kernel receives it: the fields of :data:`KERNEL_DTYPE` it fills.

        A table fills three: ``<name>_steps`` (how many; 0 in a zeroed record: no table),
        ``<name>_minutes`` (whole minutes, -1 past the last step) and ``<name>`` (the ratios, NaN past
        the last step); anything else its own field (:meth:`kernel_value`).
        """
        if self.kind != "table":
            return {self.name: self.kernel_value(value)}
        steps = value if isinstance(value, tuple) else ()
        minutes = np.full(ROI_STEPS, -1, dtype=np.int64)
        ratios = np.full(ROI_STEPS, np.nan)
        for s, (minute, ratio) in enumerate(steps):
            minutes[s], ratios[s] = minute, ratio
        return {f"{self.name}_steps": len(steps), f"{self.name}_minutes": minutes, self.name: ratios}

    def kernel_value(self, value: ParameterValue) -> float | int | bool:
        """A scalar value as the replay kernel receives it (see :data:`KERNEL_DTYPE`)."""
        if self.kind == "table":
            raise ValueError(f"{self.name} is a table: its kernel fields come from kernel_fields")
        if self.kind == "duration":
            return -1 if value is None else pd.Timedelta(value).value
        if self.kind == "switch":
            return bool(value)
        assert not isinstance(value, tuple)
        return math.nan if value is None else float(value)

    @property
    def kernel_dtype(self) -> list[tuple[Any, ...]]:
        """This parameter's fields of :data:`KERNEL_DTYPE` (see :meth:`kernel_fields`)."""
        if self.kind == "table":
            return [
                (f"{self.name}_steps", "i8"),
                (f"{self.name}_minutes", "i8", (ROI_STEPS,)),
                (self.name, "f8", (ROI_STEPS,)),
            ]
        return [(self.name, {"number": "f8", "duration": "i8", "switch": "?"}[self.kind])]


def _read_roi_table(raw: Any, spec: ParameterSpec) -> RoiTable | None:
    """A ``minimal_roi`` table from a YAML mapping, a dict or (minutes, ratio) pairs; ``None`` when empty.

    Keys may be numeric text (``"40"``, as freqtrade's JSON writes them). A bad step raises
    :class:`TableValueError` naming its key.
    """
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, tuple | list) and all(isinstance(p, tuple | list) and len(p) == 2 for p in raw):
        pairs = [tuple(p) for p in raw]
    else:
        raise ValueError(f"must be {spec.expects()}, got {describe_value(raw)}")
    steps: dict[int, float] = {}
    for key, ratio in pairs:
        minutes = _roi_minutes(key)
        if minutes is None:
            raise TableValueError(f"{spec.name} step {key!r}: minutes must be a whole number >= 0", key)
        if minutes < 0:
            raise TableValueError(f"{spec.name} step {minutes}: minutes since entry must be >= 0", key)
        if minutes in steps:
            raise TableValueError(f"{spec.name} gives minute {minutes} twice", key)
        if not (is_number(ratio) and math.isfinite(float(ratio))):
            raise TableValueError(
                f"{spec.name} step {minutes}: the profit ratio must be a finite number, got {describe_value(ratio)}",
                key,
            )
        steps[minutes] = float(ratio)
    if len(steps) > ROI_STEPS:
        raise ValueError(f"{spec.name} has {len(steps)} steps; at most {ROI_STEPS} are allowed")
    return tuple(sorted(steps.items())) or None


def _roi_minutes(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, Integral):
        return int(key)
    if isinstance(key, str) and re.fullmatch(r"\s*-?\d+\s*", key):
        return int(key)
    if isinstance(key, float) and key.is_integer():
        return int(key)
    return None


class TableValueError(ValueError):
    """A bad step of a table; ``key`` is the step's key as written, to find its line."""

    def __init__(self, message: str, key: Any):
        super().__init__(message)
        self.key = key


_FRACTION_OF_PRICE = "fraction of the entry price"

SPECS: dict[str, ParameterSpec] = {
    spec.name: spec
    for spec in (
        ParameterSpec(
            "leverage",
            "number",
            "x margin",
            "position notional / margin",
            valid=ValueRange(0.0, math.inf, low_open=True, high_open=True),
            bounds=(1.0, 20.0),
            risk_direction=1,
            test="growth",
            risk_adjusted=False,
        ),
        ParameterSpec(
            "stop_loss",
            "number",
            _FRACTION_OF_PRICE,
            "distance from the entry to the stop",
            valid=ValueRange(0.0, 1.0, low_open=True, high_open=True),
            bounds=(0.001, 0.5),
            risk_direction=1,
        ),
        ParameterSpec(
            "risk_reward_ratio",
            "number",
            "x stop_loss",
            "take-profit distance / stop distance; empty: no take-profit",
            valid=ValueRange(0.0, math.inf, low_open=True, high_open=True),
            optional=True,
            absent="no take-profit",
            bounds=(0.2, 20.0),
        ),
        ParameterSpec(
            "confidence_threshold",
            "number",
            "fraction",
            "least confidence of a signal the bot takes",
            valid=ValueRange(0.0, 1.0, low_open=False, high_open=False),
            bounds=(0.0, 1.0),
            risk_direction=-1,
            test="quality",
            admits_untaken=-1,
        ),
        ParameterSpec(
            "position_size",
            "number",
            "fraction of equity",
            "margin committed per trade",
            valid=ValueRange(0.0, 1.0, low_open=True, high_open=False),
            bounds=(0.001, 1.0),
            risk_direction=1,
            test="growth",
            scales_exposure=True,
        ),
        ParameterSpec(
            "max_hold",
            "duration",
            "duration",
            "longest a trade stays open",
            default=None,
            optional=True,
            absent="no limit",
        ),
        ParameterSpec(
            "trailing_stop",
            "switch",
            "on/off",
            "the stop trails the best price since entry (freqtrade's trailing_stop)",
            default=False,
        ),
        ParameterSpec(
            "trailing_stop_positive",
            "number",
            _FRACTION_OF_PRICE,
            "trailing distance once the offset is passed; empty: stop_loss throughout",
            valid=ValueRange(0.0, 1.0, low_open=True, high_open=True),
            default=None,
            optional=True,
            absent="the stop_loss distance",
            bounds=(0.001, 0.5),
            risk_direction=1,
        ),
        ParameterSpec(
            "trailing_stop_positive_offset",
            "number",
            _FRACTION_OF_PRICE,
            "favourable move from the entry after which trailing_stop_positive applies",
            valid=ValueRange(0.0, 1.0, low_open=False, high_open=True),
            default=0.0,
            bounds=(0.0, 0.5),
        ),
        ParameterSpec(
            "minimal_roi",
            "table",
            "profit ratio by minutes since entry",
            "freqtrade's ROI table: exit once the profit ratio (both fees, x leverage) exceeds the step's",
            default=None,
            optional=True,
            absent="no ROI exits",
        ),
        ParameterSpec(
            "minimal_roi_scale",
            "number",
            "x minimal_roi",
            "multiplies every ratio of minimal_roi (a step of -1, exit at that step, stays -1)",
            valid=ValueRange(0.0, math.inf, low_open=True, high_open=True),
            default=1.0,
            bounds=(0.25, 4.0),
        ),
    )
}
"""Every parameter a playbook block may set, by name, in the order a block lists them."""
PARAMETERS = tuple(SPECS)

TUNABLE_PARAMETERS = tuple(name for name, spec in SPECS.items() if spec.tunable)
REQUIRED_PARAMETERS = tuple(name for name, spec in SPECS.items() if spec.required)
"""Parameters the ``default`` block must give: they have no natural default."""
OPTIONAL_PARAMETERS: dict[str, ParameterValue] = {
    name: spec.default for name, spec in SPECS.items() if not spec.required
}
"""Parameters the ``default`` block may omit, with the value they then take."""
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    name: spec.bounds for name, spec in SPECS.items() if spec.bounds is not None
}
"""Inclusive [min, max] per tunable parameter unless the playbook's ``bounds`` section says otherwise."""
KERNEL_DTYPE = np.dtype([field for spec in SPECS.values() for field in spec.kernel_dtype])
"""One record per (candidate, parameter group) in the replay kernel: a field per parameter (three for
a table: its number of steps, their minutes and their ratios, :data:`ROI_STEPS` slots each)."""
_KERNEL_FIELDS: tuple[str, ...] = KERNEL_DTYPE.names or ()


@dataclass(frozen=True)
class RegimeParameters:
    """The effective parameters for one regime (see :data:`SPECS` for each one's meaning).

    ``stop_loss`` is a fraction of the entry price; the take-profit distance is
    ``stop_loss * risk_reward_ratio`` (``None``: no take-profit); ``position_size`` is the fraction of
    equity committed as margin per trade; ``confidence_threshold`` is in [0, 1]; ``max_hold`` is
    ``None`` for no time limit. With
    ``trailing_stop`` the stop follows the best price since entry at the ``stop_loss`` distance, and at
    ``trailing_stop_positive`` once the best price has moved more than ``trailing_stop_positive_offset``
    in the trade's favour (all fractions of price; see docs/REPLAY.md). ``minimal_roi`` is freqtrade's
    ROI table ((minutes since entry, least profit ratio) steps; ``None``: no ROI exits), each ratio
    multiplied by ``minimal_roi_scale`` (:func:`scaled_roi`).
    """

    leverage: float
    stop_loss: float
    risk_reward_ratio: float | None
    confidence_threshold: float
    position_size: float
    max_hold: pd.Timedelta | None = None
    trailing_stop: bool = False
    trailing_stop_positive: float | None = None
    trailing_stop_positive_offset: float = 0.0
    minimal_roi: RoiTable | None = None
    minimal_roi_scale: float = 1.0


if [(f.name, f.default) for f in fields(RegimeParameters)] != [
    (name, MISSING if spec.required else spec.default) for name, spec in SPECS.items()
]:
    raise RuntimeError("RegimeParameters must have one field per entry of SPECS, in its order, with its default")


def kernel_record(parameters: RegimeParameters) -> np.void:
    """``parameters`` as one record of :data:`KERNEL_DTYPE`, as the replay kernel reads them."""
    values: dict[str, Any] = {}
    for name, spec in SPECS.items():
        values.update(spec.kernel_fields(getattr(parameters, name)))
    record: np.void = np.array([tuple(values[field] for field in _KERNEL_FIELDS)], dtype=KERNEL_DTYPE)[0]
    return record


def scaled_roi(table: RoiTable | None, scale: float) -> RoiTable | None:
    """The ROI table in force: every ratio x ``scale``, except a ratio of -1 (freqtrade's "exit at this
    step"), which stays -1. What the replay kernel and a freqtrade strategy apply."""
    if table is None:
        return None
    return tuple((minutes, ratio if ratio == -1.0 else ratio * scale) for minutes, ratio in table)


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


def suggestion(name: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``allowed``, or nothing."""
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def kind_of(value: Any) -> str:
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


def describe_value(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return kind_of(value)
    if isinstance(value, str):
        return f"text '{value}'"
    return f"{kind_of(value)} {value}" if isinstance(value, bool) else str(value)
