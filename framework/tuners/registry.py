"""Finding tuners: by built-in name, by dotted path to a class, or by an installed package's entry point."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from framework.errors import InputError, Problem
from framework.tuners.base import Tuner

ENTRY_POINT_GROUP = "playbook_tuner.tuners"
CONFIGURATION = "configuration"
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
        raise InputError.single(CONFIGURATION, _unknown(spec), field="tuners")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError.single(CONFIGURATION, f"{_unknown(spec)} ({exc})", field="tuners") from None
    candidate = getattr(module, class_name, None)
    if not (inspect.isclass(candidate) and issubclass(candidate, Tuner)):
        raise InputError.single(CONFIGURATION, f"'{spec}' is not a Tuner subclass", field="tuners")
    if inspect.isabstract(candidate):
        missing = ", ".join(sorted(candidate.__abstractmethods__))
        raise InputError.single(CONFIGURATION, f"tuner '{spec}' does not implement {missing}", field="tuners")
    return candidate


def load_tuners(specs: list[str], options: dict[str, dict[str, Any]] | None = None) -> list[Tuner]:
    """Construct the tuners ``specs`` name, each with its keyword options from ``[tuner_options]``.

    An options key is a spec exactly as listed (built-in name, dotted path or entry point name) or a
    tuner's ``name`` attribute (``trim_losers`` for ``mytuners:TrimLosers``); a listed spec wins over a
    name. Raises ``InputError`` listing every key that matches no listed tuner or the names of several,
    every tuner given options under two keys, and every option a tuner's constructor does not take.
    """
    options = options or {}
    classes = {spec: tuner_class(spec) for spec in specs}
    keys, problems = _options_keys(classes, options)
    for spec, cls in classes.items():
        key = keys.get(spec)
        problems.extend(_option_problems(spec, cls, key, options[key] if key is not None else {}))
    if problems:
        raise InputError(problems)
    return [classes[spec](**(options[keys[spec]] if spec in keys else {})) for spec in specs]


def _options_keys(
    classes: dict[str, type[Tuner]], options: dict[str, dict[str, Any]]
) -> tuple[dict[str, str], list[Problem]]:
    """The options key of each listed tuner that has one, and the problems of the keys."""
    keys: dict[str, str] = {}
    problems: list[Problem] = []
    for key in options:
        owners = (
            [key] if key in classes else [spec for spec, cls in classes.items() if getattr(cls, "name", None) == key]
        )
        if not owners:
            message = (
                f"'{key}' matches no configured tuner, by its entry under tuners or by its name; "
                f"configured: {_listing(classes)}"
            )
        elif len(owners) > 1:
            message = f"'{key}' is the name of several tuners ({', '.join(owners)}); key the options by one of those"
        elif owners[0] in keys:
            message = f"tuner '{owners[0]}' has options under both '{keys[owners[0]]}' and '{key}'; use one key"
        else:
            keys[owners[0]] = key
            continue
        problems.append(Problem(CONFIGURATION, message, field=f"tuner_options.{key}"))
    return keys, problems


def _option_problems(spec: str, cls: type[Tuner], key: str | None, values: dict[str, Any]) -> list[Problem]:
    """What keeps ``cls`` from being constructed with ``values`` (the options under ``key``, if any)."""
    signature = inspect.signature(cls)
    try:
        signature.bind(**values)
    except TypeError as exc:
        takes = [
            name for name, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        unknown = [name for name in values if name not in takes]
        what = f"unknown option {', '.join(repr(name) for name in unknown)}" if unknown else str(exc)
        message = f"options of tuner '{spec}': {what}; it takes: {', '.join(takes) or 'no options'}"
        return [Problem(CONFIGURATION, message, field="tuners" if key is None else f"tuner_options.{key}")]
    return []


def _listing(classes: dict[str, type[Tuner]]) -> str:
    named = [
        spec if getattr(cls, "name", spec) == spec else f"{spec} (name '{cls.name}')" for spec, cls in classes.items()
    ]
    return ", ".join(named) or "none"


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
