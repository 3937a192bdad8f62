"""The live playbook inside a freqtrade strategy: :class:`PlaybookStrategyMixin`.

Put the mixin before ``IStrategy`` in a strategy's bases (``class MyStrategy(PlaybookStrategyMixin,
IStrategy)``); it implements freqtrade's callbacks (their signatures as in freqtrade 2026.9's
``freqtrade/strategy/interface.py``) and imports nothing of freqtrade, so the library stays free of its
GPL code. Per entry it labels the regime with the replay's own causal classifier and applies that
regime's parameters of the live playbook:

- the regime: :func:`framework.regimes.classify` adds a ``regime`` column to the analyzed candles (after
  the strategy's ``populate_indicators``); an entry at time t takes :func:`framework.regimes.regime_at`
  t, the label of the last candle closed by t (the signal candle), as the replay labels a trade;
- ``leverage`` (freqtrade calls it in futures mode only; spot trades are 1x), ``confirm_trade_entry``
  (the signal candle's ``confidence_column`` against ``confidence_threshold``), ``custom_stake_amount``
  (``position_size`` x the strategy's weight x freqtrade's total stake, clamped to its min/max stake);
- the stop: ``stop_loss`` is a fraction of price, freqtrade's stoploss is on leveraged profit, so a
  trade's initial stop is ``-stop_loss x leverage``; trailing (``trailing_stop``, ``_positive``,
  ``_positive_offset``) goes through ``custom_stoploss`` with freqtrade's own trailing rule (the
  built-in ``trailing_stop`` attributes are one set for all trades, the playbook's differ by regime);
- the ROI table: ``min_roi_reached_entry`` returns the trade's ``minimal_roi`` step x
  ``minimal_roi_scale``.

The playbook is reloaded when its file changes (``bot_loop_start`` compares the file's mtime and size,
then its text's SHA-256, the version's identity in the store). An open trade keeps the parameters it
opened with (kept in freqtrade's trade custom data, and in memory), unless ``reapply_to_open_trades``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from framework.errors import InputError
from framework.market import TIMEFRAMES
from framework.playbook import Playbook, RegimeParameters, load_playbook
from framework.playbook.schema import RoiTable, scaled_roi
from framework.regimes import RegimeParams, classify, regime_at

CUSTOM_DATA_KEY = "playbook"
"""The trade custom data key under which a trade's opening :class:`TradeParameters` are kept."""


@dataclass(frozen=True)
class TradeParameters:
    """What a trade applies from the playbook, fixed when it opens (JSON-able, for freqtrade's custom data)."""

    version: str
    """SHA-256 (hex) of the playbook text the parameters came from."""
    regime: str | None
    """The regime at entry (None: not yet known, the ``default`` block applied)."""
    leverage: float
    stop_loss: float
    trailing_stop: bool
    trailing_stop_positive: float | None
    trailing_stop_positive_offset: float
    minimal_roi: RoiTable | None
    minimal_roi_scale: float

    @classmethod
    def of(cls, playbook: Playbook, regime: str | None) -> TradeParameters:
        parameters = playbook.parameters_for(regime)
        return cls(
            version=playbook.sha256(),
            regime=regime,
            leverage=parameters.leverage,
            stop_loss=parameters.stop_loss,
            trailing_stop=parameters.trailing_stop,
            trailing_stop_positive=parameters.trailing_stop_positive,
            trailing_stop_positive_offset=parameters.trailing_stop_positive_offset,
            minimal_roi=parameters.minimal_roi,
            minimal_roi_scale=parameters.minimal_roi_scale,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TradeParameters:
        values = json.loads(text)
        roi = values.get("minimal_roi")
        values["minimal_roi"] = None if roi is None else tuple((int(m), float(r)) for m, r in roi)
        return cls(**values)

    @property
    def freqtrade_stoploss(self) -> float:
        """freqtrade's stoploss value (negative, on leveraged profit) for ``stop_loss`` of price."""
        return -self.stop_loss * self.leverage

    def roi_step(self, minutes: int) -> tuple[int | None, float | None]:
        """The ROI step in force ``minutes`` after entry and its least profit ratio (x scale, as
        :func:`~framework.playbook.schema.scaled_roi`); (None, None) before the first step or without a table."""
        steps = [step for step in scaled_roi(self.minimal_roi, self.minimal_roi_scale) or () if step[0] <= minutes]
        if not steps:
            return None, None
        return steps[-1]


@dataclass(frozen=True)
class _Entry:
    """The playbook's decision for an entry on ``pair`` at ``time``."""

    pair: str
    time: datetime
    parameters: TradeParameters
    sizing: RegimeParameters
    confidence: float


class PlaybookStrategyMixin:
    """freqtrade callbacks that apply the live playbook's regime parameters (see the module docstring).

    Class attributes a strategy may set: ``playbook_path`` (the live playbook YAML; a freqtrade config
    key ``playbook_path`` takes precedence), ``confidence_column`` (the column of the analyzed candles
    holding each signal's confidence in [0, 1]), ``reapply_to_open_trades`` (open trades follow a new
    playbook version too), ``regime_params`` (the classifier's settings; the replay's defaults).
    The playbook owns the stop and the ROI table: the strategy's ``stoploss`` and ``minimal_roi`` are
    replaced per trade. A strategy overriding one of these callbacks calls ``super()``.
    """

    playbook_path: str | Path | None = None
    confidence_column: str = "confidence"
    reapply_to_open_trades: bool = False
    regime_params: RegimeParams | None = None

    use_custom_stoploss = True
    stoploss = -0.99
    """Only until a trade's entry sets its own; freqtrade requires the attribute."""
    trailing_stop = False
    minimal_roi: dict[str, float] = {}  # noqa: RUF012 (freqtrade's attribute; the playbook's table is used)

    # freqtrade sets these on the strategy instance
    config: dict[str, Any]
    dp: Any
    wallets: Any
    timeframe: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._playbook: Playbook | None = None
        self._playbook_stat: tuple[int, int] | None = None
        self._pending: dict[str, _Entry] = {}
        """The last entry decision per pair, until freqtrade creates the trade."""
        self._by_trade: dict[int, TradeParameters] = {}

    # --- the live playbook ---------------------------------------------------------------------------

    def current_playbook(self) -> Playbook:
        """The live playbook (read on first use, then as :meth:`reload_playbook` finds it changed)."""
        if self._playbook is None:
            self.reload_playbook()
        assert self._playbook is not None
        return self._playbook

    def live_playbook_path(self) -> Path:
        configured = getattr(self, "config", None) or {}
        path = configured.get("playbook_path") or self.playbook_path
        if not path:
            raise InputError.single(
                type(self).__name__, "set playbook_path (a class attribute or the freqtrade config key)"
            )
        return Path(path)

    def reload_playbook(self) -> bool:
        """Read the live playbook again if its file changed; True when the version (text) changed."""
        path = self.live_playbook_path()
        stat = os.stat(path)
        seen = (stat.st_mtime_ns, stat.st_size)
        if self._playbook is not None and seen == self._playbook_stat:
            return False
        playbook = load_playbook(path)
        previous = self._playbook
        self._playbook, self._playbook_stat = playbook, seen
        return previous is None or previous.sha256() != playbook.sha256()

    def bot_start(self, **kwargs: Any) -> None:
        """Read the playbook when the bot starts, so that a missing or invalid one stops it there."""
        self.reload_playbook()

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        self.reload_playbook()

    # --- regimes -------------------------------------------------------------------------------------

    def advise_indicators(self, dataframe: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
        """freqtrade's step that calls ``populate_indicators``; adds the ``regime`` column after it."""
        frame: pd.DataFrame = super().advise_indicators(dataframe, metadata)  # type: ignore[misc]
        frame["regime"] = classify(frame, self.regime_params).to_numpy()
        return frame

    def regime_and_confidence(self, pair: str, time: datetime) -> tuple[str | None, float]:
        """The regime known at ``time`` (the last candle closed by then) and that candle's confidence
        (NaN when there is no such candle or the value is missing)."""
        frame, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if frame.empty:
            return None, math.nan
        if self.confidence_column not in frame.columns:
            raise InputError.single(
                type(self).__name__,
                f"the analyzed candles have no column {self.confidence_column!r} (confidence_column)",
            )
        labels = pd.Series(frame["regime"].to_numpy(), index=pd.DatetimeIndex(frame["date"]))
        regime = regime_at(labels, self.timeframe, pd.DatetimeIndex([time])).iloc[0]
        closes = pd.DatetimeIndex(frame["date"]) + TIMEFRAMES[self.timeframe]
        row = closes.searchsorted(pd.Timestamp(time), side="right") - 1
        confidence = float(frame[self.confidence_column].iloc[row]) if row >= 0 else math.nan
        return (None if pd.isna(regime) else str(regime)), confidence

    def _entry(self, pair: str, time: datetime) -> _Entry:
        """The playbook's decision for an entry on ``pair`` at ``time``; freqtrade asks leverage, stake
        and confirmation of one entry in turn, so the decision is kept until the next one on the pair."""
        playbook = self.current_playbook()
        cached = self._pending.get(pair)
        if cached is not None and cached.time == time and cached.parameters.version == playbook.sha256():
            return cached
        regime, confidence = self.regime_and_confidence(pair, time)
        entry = _Entry(pair, time, TradeParameters.of(playbook, regime), playbook.parameters_for(regime), confidence)
        self._pending[pair] = entry
        return entry

    # --- entry callbacks -----------------------------------------------------------------------------

    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        return min(self._entry(pair, current_time).parameters.leverage, max_leverage)

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """``position_size`` x the strategy's weight x freqtrade's total stake (available plus in trades),
        within [min_stake, max_stake]."""
        entry = self._entry(pair, current_time)
        wallets = getattr(self, "wallets", None)
        total = wallets.get_total_stake_amount() if wallets is not None else max_stake
        stake = entry.sizing.position_size * self.current_playbook().strategy_weight(type(self).__name__) * total
        return float(min(max(stake, min_stake or 0.0), max_stake))

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        """Take the signal when its confidence reaches the regime's ``confidence_threshold``; then set
        the strategy's stoploss to the trade's, which freqtrade reads for the new trade's initial stop."""
        entry = self._entry(pair, current_time)
        if not entry.confidence >= entry.sizing.confidence_threshold:
            return False
        self.stoploss = entry.parameters.freqtrade_stoploss
        return True

    # --- open trades ---------------------------------------------------------------------------------

    def trade_parameters(self, trade: Any) -> TradeParameters:
        """The parameters ``trade`` applies: those it opened with (or the live playbook's for its regime
        with ``reapply_to_open_trades``)."""
        kept = self._opening_parameters(trade)
        if self.reapply_to_open_trades and kept.version != self.current_playbook().sha256():
            return TradeParameters.of(self.current_playbook(), kept.regime)
        return kept

    def _opening_parameters(self, trade: Any) -> TradeParameters:
        known = self._by_trade.get(trade.id)
        if known is not None:
            return known
        stored = trade.get_custom_data(CUSTOM_DATA_KEY)
        if stored is not None:
            known = TradeParameters.from_json(stored)
        else:
            pending = self._pending.get(trade.pair)
            opened = pd.Timestamp(trade.open_date_utc)
            if pending is not None and pd.Timestamp(pending.time) == opened:
                known = pending.parameters
            else:  # a trade this process did not open (a restart without custom data)
                known = TradeParameters.of(self.current_playbook(), self.regime_and_confidence(trade.pair, opened)[0])
            trade.set_custom_data(CUSTOM_DATA_KEY, known.to_json())
        self._by_trade[trade.id] = known
        return known

    def order_filled(self, pair: str, trade: Any, order: Any, current_time: datetime, **kwargs: Any) -> None:
        self._opening_parameters(trade)

    def custom_stoploss(
        self,
        pair: str,
        trade: Any,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs: Any,
    ) -> float | None:
        """freqtrade's trailing rule with the trade's own values: from the candle's best price (which
        freqtrade passes as ``current_rate`` in backtests) at ``stop_loss`` x leverage, and at
        ``trailing_stop_positive`` x leverage once the profit there passes the offset x leverage.
        None (keep the stop) for a trade without trailing and right after a fill."""
        parameters = self.trade_parameters(trade)
        if after_fill or not parameters.trailing_stop:
            return None
        distance = parameters.freqtrade_stoploss
        offset = parameters.trailing_stop_positive_offset * parameters.leverage
        if parameters.trailing_stop_positive is not None and current_profit > offset:
            distance = -parameters.trailing_stop_positive * parameters.leverage
        return distance

    def min_roi_reached_entry(
        self, trade: Any, trade_dur: int, current_time: datetime
    ) -> tuple[int | None, float | None]:
        """The trade's ROI step in force after ``trade_dur`` minutes and its ratio x minimal_roi_scale."""
        return self.trade_parameters(trade).roi_step(trade_dur)
