"""A tuning session as one typed model: what the pipeline builds, the store keeps and everyone renders.

:class:`Session` holds the validated changes (:class:`Recommendation`), the proposals refused or
rejected (:class:`Rejection`), each verdict's evidence (:class:`Validation`), how the gate cut the
trades, the headline, data quality, the items still pending and the daily equity before and after each
change (:class:`SessionCharts`), so a stored session draws its charts again.

One JSON layout serves the store and ``tune --json`` / ``show --json``: :meth:`Session.stored` is what
the store keeps, :meth:`Session.document` the same without the charts' series. Both write only the keys
the session was given, so a session read from an older layout is written back in its own layout (keys
this model does not know are dropped). The
reader is tolerant: sessions stored before rationales, own-trade metrics, evidence, headlines, the
gate's layout or the equity series were kept read with those parts missing (None or empty); the
session's id and times come from its store row when its document lacks them.

This module needs pydantic only (no pandas): the reading commands of the CLI load it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, model_validator

if TYPE_CHECKING:
    from framework.store import SessionRecord


def json_number(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return float(value) if math.isfinite(value) else None


def _finite(value: Any) -> Any:
    """NaN and infinity (also inside lists) as None; anything else as it is."""
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return json_number(value) if isinstance(value, float) else value


def _finite_values(raw: Any) -> Any:
    """A mapping with its non-finite numbers as None (anything else is left for the type check)."""
    return {key: _finite(value) for key, value in raw.items()} if isinstance(raw, Mapping) else raw


Number = Annotated[float | None, BeforeValidator(_finite)]
"""A float that is None where it is not finite (JSON has no NaN)."""
UtcTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json")]
"""A time, written as ``datetime.isoformat`` (``+00:00`` for UTC)."""
Metrics = dict[str, Number]
"""Replay metrics by name (fractions are fractions; see :mod:`framework.formatting`)."""
Value = float | str | None
"""A playbook value: a number, a duration as text (``48h``), or None for no limit."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_Model = TypeVar("_Model", bound=_Part)


class ModelQuality(_Part):
    """A tuner's model, cross-validated: R2 and mean absolute error (in the target's unit)."""

    r2: Number = None
    mae: Number = None


class OwnSide(_Part):
    """A change's own trades under one playbook: ``taken`` (count), ``win_rate`` (fraction of taken trades
    with return > 0), ``mean_return`` (fraction of margin per taken trade), ``pnl`` (quote currency)."""

    taken: int
    win_rate: Number
    mean_return: Number
    pnl: Number


class OwnTrades(_Part):
    """The out-of-sample trades a change reaches: ``scope`` in words, ``trades`` (count), both sides."""

    scope: str
    trades: int
    baseline: OwnSide
    candidate: OwnSide


class InSample(_Part):
    """The search window's metrics under the current playbook and with the change."""

    baseline: Metrics = {}
    candidate: Metrics = {}


class Validation(_Part):
    """The gate's verdict on one change: ``p_value`` (Holm-adjusted), ``dsr`` (deflated Sharpe ratio, 0-1),
    ``n_trials`` (candidates tried), the out-of-sample metrics of both playbooks and the test's
    ``evidence`` (see :func:`framework.formatting.evidence_lines`)."""

    accepted: bool | None = None
    reason: str | None = None
    p_value: Number = None
    dsr: Number = None
    n_trials: int | None = None
    out_of_sample_trades: int | None = None
    own_trades: OwnTrades | None = None
    evidence: Annotated[dict[str, Any], BeforeValidator(_finite_values)] = {}
    baseline: Metrics = {}
    candidate: Metrics = {}
    in_sample: InSample | None = None


class Assessment(_Part):
    """What a tuner proposed and what the gate found: the payload of a stored recommendation.
    ``change_pct`` is percent."""

    tuner: str | None = None
    rationale: str | None = None
    change_pct: Number = None
    model: ModelQuality | None = None
    validation: Validation | None = None

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> Self:
        """Read a stored payload; ``ValueError`` naming the field when it is malformed."""
        return _parse(cls, payload, "recommendation")

    def stored(self) -> dict[str, Any]:
        """The JSON document, with the keys it was given."""
        return self.model_dump(mode="json", exclude_unset=True)


class _Item(_Part):
    id: str
    regime: str
    parameter: str
    current: Value
    proposed: Value
    risk: Literal["low", "medium", "high"]
    confidence: float


class Recommendation(Assessment, _Item):
    """A validated change: ``regime`` (or strategy weights) and ``parameter``, ``current`` -> ``proposed``,
    ``risk`` (low / medium / high) and ``confidence`` (0-1: one minus the adjusted p-value), then its
    :class:`Assessment` (the bases' order is the JSON's key order)."""

    def assessment(self) -> dict[str, Any]:
        """Its :class:`Assessment` part as JSON: the payload of its store row."""
        return self.model_dump(mode="json", exclude_unset=True, include=set(Assessment.model_fields))


class _Proposal(_Part):
    regime: str | None = None
    parameter: str | None = None
    current: Value = None
    proposed: Value = None


class Rejection(Assessment, _Proposal):
    """A proposal that is no recommendation: refused by the safety rules (``reason`` only) or rejected by
    the gate (its change and the gate's verdict too). ``regime`` is None for a session-wide refusal."""

    reason: str | None = None


class DataQuality(_Part):
    """The data quality score and its parts, percent (0-100)."""

    score: Number = None
    parts: dict[str, float] = {}


class DailyEquity(_Part):
    """One validated change's equity out of sample under the current playbook and with the change, in
    quote currency at UTC day ends (``days``, in time order)."""

    item: str
    days: tuple[UtcTime, ...]
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        if not len(self.days) == len(self.baseline) == len(self.candidate):
            raise ValueError(f"equity of {self.item}: days, baseline and candidate differ in length")
        return self


class SessionCharts(_Part):
    """What the charts of a session draw: the daily equity of each validated change, and the regime most
    trades entered in on each UTC day (``regime_days`` midnights, each label holding until the next)."""

    equity: tuple[DailyEquity, ...] = ()
    regime_days: tuple[UtcTime, ...] = ()
    regimes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        if len(self.regime_days) != len(self.regimes):
            raise ValueError("regime_days and regimes differ in length")
        return self

    def equity_of(self, item: str) -> DailyEquity | None:
        """The equity series of recommendation ``item``, if stored."""
        return next((series for series in self.equity if series.item == item), None)


class Session(_Part):
    """A tuning session; times are UTC. ``trades_analyzed`` within ``lookback_days``; ``headline`` says why
    nothing validated (None otherwise); ``out_of_sample_by_regime``, ``search_trades``, ``holdout_trades``,
    ``folds``, ``layout`` and ``out_of_sample_days`` are how the gate cut the trades; ``pending`` the ids
    still awaiting a decision once the run ended; ``charts`` the series of the report's charts."""

    session_id: str
    created_at: UtcTime
    expires_at: UtcTime
    trades_analyzed: int = 0
    lookback_days: int | None = None
    headline: str | None = None
    data_quality: DataQuality = DataQuality()
    out_of_sample_by_regime: dict[str, int] = {}
    search_trades: int | None = None
    holdout_trades: int | None = None
    folds: int | None = None
    layout: str | None = None
    out_of_sample_days: int | None = None
    recommendations: tuple[Recommendation, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    pending: tuple[str, ...] | None = None
    charts: SessionCharts | None = None

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> Self:
        """Read a session document (``tune --json`` or stored); ``ValueError`` naming the field when it is
        malformed."""
        return _parse(cls, document, "session")

    @classmethod
    def from_record(cls, record: SessionRecord) -> Self:
        """The session a store row holds, its id and times taken from the row where its document has none."""
        identity = {"session_id": record.id, "created_at": record.created_at, "expires_at": record.expires_at}
        return cls.parse({**identity, **record.payload})

    def stored(self) -> dict[str, Any]:
        """The JSON document the store keeps, with the keys the session was given."""
        return self.model_dump(mode="json", exclude_unset=True)

    def document(self) -> dict[str, Any]:
        """The ``tune --json`` / ``show --json`` document: :meth:`stored` without the charts' series."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"charts"})


def _parse(model: type[_Model], document: Mapping[str, Any], what: str) -> _Model:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ValueError(f"the {what} document is malformed: {exc}") from exc
