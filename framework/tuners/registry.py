"""Finding tuners: by built-in name, by dotted path to a class, or by an installed package's entry point."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from framework.errors import InputError
from framework.tuners.base import Tuner

ENTRY_POINT_GROUP = "playbook_tuner.tuners"
BUILTIN_TUNERS = {
    "leverage": "framework.tuners.leverage:LeverageTuner",
    "risk_ratio": "framework.tuners.risk_ratio:RiskRatioTuner",
    "confidence_threshold": "framework.tuners.confidence:ConfidenceTuner",
    "strategy_weights": "framework.tuners.strategy_weights:StrategyWeightTuner",
}


def tuner_class(spec: str) -> type[Tuner]:
    """The Tuner subclass ``spec`` names.

    ``spec`` is a built-in name (``leverage``), an entry point name in the ``playbook_tuner.tuners``
    group of an installed package, or a dotted path ``package.module:Class`` (or ``package.module.Class``).
    """
    target = BUILTIN_TUNERS.get(spec) or _entry_point_target(spec) or spec
    module_name, _, class_name = target.partition(":") if ":" in target else target.rpartition(".")
    if not module_name or not class_name:
        raise InputError.single("configuration", _unknown(spec), field="tuners")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError.single("configuration", f"{_unknown(spec)} ({exc})", field="tuners") from None
    candidate = getattr(module, class_name, None)
    if not (inspect.isclass(candidate) and issubclass(candidate, Tuner)):
        raise InputError.single("configuration", f"'{spec}' is not a Tuner subclass", field="tuners")
    return candidate


def load_tuners(specs: list[str], options: dict[str, dict[str, Any]] | None = None) -> list[Tuner]:
    """Construct the tuners ``specs`` name, each with its options (keyed by the spec) from the config."""
    options = options or {}
    tuners = []
    for spec in specs:
        cls = tuner_class(spec)
        try:
            tuners.append(cls(**options.get(spec, {})))
        except TypeError as exc:
            raise InputError.single("configuration", f"options of tuner '{spec}': {exc}", field="tuners") from None
    return tuners


def _entry_point_target(name: str) -> str | None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            return str(point.value)
    return None


def _unknown(spec: str) -> str:
    return (
        f"unknown tuner '{spec}'; built-in: {', '.join(BUILTIN_TUNERS)}; or a dotted path "
        f"'package.module:Class', or an entry point in the '{ENTRY_POINT_GROUP}' group"
    )
