"""The gate's out-of-sample record: the walk-forward test blocks and the holdout replayed under the
current playbook and under each slot's capped and uncapped values, and what a slot is judged on in it.

:func:`replay_out_of_sample` chains the blocks (each block's days end with its last exit);
:func:`slot_evidence` runs a slot's per-trade test (:mod:`framework.judging`) on the record;
:func:`own_trades` summarises the trades a change reaches. :mod:`framework.validation` decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.judging import Evidence, paired_evidence, quality_evidence
from framework.playbook import DEFAULT_REGIME, SPECS, STRATEGY_WEIGHTS, ParameterChange, ParameterSpec, Playbook
from framework.regimes import REGIMES
from framework.replay import replay_tables, select, tables_for_changes
from framework.replay.kernels import DAYS_PER_YEAR
from framework.safety import reached_trades
from framework.tuning import TuneData, with_untaken_signals

OUTCOME_METRICS = ("total_return", "log_growth", "sharpe", "max_drawdown", "trades_taken", "liquidations")


@dataclass(frozen=True)
class Slot:
    """What a proposal changes: one parameter of one playbook block, as proposed by one tuner."""

    tuner: str
    regime: str
    parameter: str

    def describe(self) -> str:
        return f"{self.regime}.{self.parameter}"

    def reach(self, trades: pd.DataFrame) -> np.ndarray:
        """The trades a change of this slot is counted on (boolean mask)."""
        return reached_trades(trades, self.regime, self.parameter)

    @property
    def spec(self) -> ParameterSpec | None:
        """The schema's entry for the parameter; ``None`` for a strategy weight."""
        return None if self.regime == STRATEGY_WEIGHTS else SPECS[self.parameter]

    @property
    def kind(self) -> str:
        """Which test judges it (:mod:`framework.judging`); a strategy weight is judged on quality."""
        return "quality" if self.spec is None else self.spec.test


@dataclass(frozen=True)
class Choice:
    """A pass's best candidate for a slot: the capped step a session may take, and the value the
    tuner's evidence points at before the change cap (the same when the cap did not bind)."""

    capped: float
    uncapped: float


def change_of(slot: Slot, value: float) -> ParameterChange:
    return ParameterChange(slot.regime, slot.parameter, value)


@dataclass(frozen=True)
class OutOfSampleRecord:
    """The chained out-of-sample replay. Columns: 0 the current playbook, then per slot its capped
    step (2k + 1) and its uncapped value (2k + 2)."""

    daily: np.ndarray
    """Daily returns, days x columns (each block's days up to its last exit)."""
    outcomes: list[dict[str, float]]
    equity: pd.DataFrame
    days: int
    trades: pd.DataFrame
    """One row per replayed trade: ``entry_ns``, ``hold_ns``, ``regime``, ``strategy``, ``signal`` (an
    untaken signal of the signal log, not a logged trade), ``holdout``."""
    per_trade: list[pd.DataFrame]
    """Per column: ``taken``, ``return``, ``pnl`` of each row of ``trades``."""
    values: np.ndarray
    """columns x rows: the value each column gives its slot's parameter in the row's block (NaN: the
    current value)."""


def replay_out_of_sample(
    blocks: list[tuple[pd.DataFrame, dict[Slot, Choice]]],
    slots: list[Slot],
    shared: TuneData,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> OutOfSampleRecord:
    """Replay every block under the current playbook (``shared.playbook``) and each slot's capped and
    uncapped values (the current value where the block's pass proposed nothing) and chain the blocks
    (each starting from the last one's end; a day two blocks share appears twice). Each block's replay
    is selected from ``shared``'s."""
    returns: list[np.ndarray] = []
    days: list[pd.DatetimeIndex] = []
    counts = np.zeros((2 * len(slots) + 1, 2))  # trades taken, liquidations
    rows: list[pd.DataFrame] = []
    per_trade: list[list[pd.DataFrame]] = [[] for _ in range(2 * len(slots) + 1)]
    values: list[np.ndarray] = []
    for number, (block, choices) in enumerate(blocks):
        if block.empty:
            continue
        daily, index, metrics, labels, outcomes = _replay_block(block, choices, slots, shared, settings, signals)
        previous = np.vstack([np.full((1, daily.shape[1]), settings.replay.initial_equity), daily[:-1]])
        returns.append(daily / previous - 1.0)
        days.append(index)
        counts += metrics[["trades_taken", "liquidations"]].to_numpy()
        rows.append(labels.assign(holdout=number == len(blocks) - 1))
        given = [math.nan]
        for slot in slots:
            choice = choices.get(slot)
            given += [choice.capped, choice.uncapped] if choice else [math.nan, math.nan]
        values.append(np.repeat(np.array(given)[:, None], len(labels), axis=1))
        for column, frame in zip(per_trade, outcomes, strict=True):
            column.append(frame)
    stacked = np.vstack(returns)
    index = days[0].append(days[1:]) if len(days) > 1 else days[0]
    equity = pd.DataFrame(settings.replay.initial_equity * np.cumprod(1.0 + stacked, axis=0), index=index)
    outcomes_chained = [_outcome(stacked[:, k], counts[k]) for k in range(stacked.shape[1])]
    return OutOfSampleRecord(
        stacked,
        outcomes_chained,
        equity,
        len(stacked),
        pd.concat(rows, ignore_index=True),
        [pd.concat(frames, ignore_index=True) for frames in per_trade],
        np.hstack(values),
    )


def _replay_block(
    block: pd.DataFrame,
    choices: dict[Slot, Choice],
    slots: list[Slot],
    shared: TuneData,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> tuple[np.ndarray, pd.DatetimeIndex, pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """One block's replay: daily equity (days x columns) up to the day of its last exit, those day
    ends, the metrics, the replayed trades' labels and the per-trade outcomes of every column."""
    playbook = shared.playbook
    replayed = with_untaken_signals(block, signals_within(signals, block), shared.market, playbook, shared.labels)
    inputs = select(shared.replay, replayed)
    change_sets: list[list[ParameterChange]] = [[]]
    for slot in slots:
        choice = choices.get(slot)
        change_sets.append([change_of(slot, choice.capped)] if choice else [])
        change_sets.append([change_of(slot, choice.uncapped)] if choice else [])
    tables = tables_for_changes(inputs, playbook, change_sets)
    result = replay_tables(inputs, tables, settings.replay, equity=True, per_trade=True)
    assert result.equity is not None and result.per_trade is not None
    # The day grid runs to the end of the candles; after the block's last exit every column is flat,
    # and those zero days would only dilute the tests.
    taken = result.per_trade["taken"]
    last_exit = int(result.per_trade["exit_ns"][taken].max()) if taken.any() else int(inputs.arrays["day_ends"][0])
    day_ends = pd.DatetimeIndex(result.equity.index)
    keep = int(np.searchsorted(day_ends.asi8, last_exit, side="left")) + 1
    entry_ns = pd.DatetimeIndex(replayed["entry_time"]).as_unit("ns").asi8
    exit_ns = pd.DatetimeIndex(replayed["exit_time"]).as_unit("ns").asi8
    labels = pd.DataFrame(
        {
            "entry_ns": entry_ns,
            "hold_ns": np.maximum(exit_ns - entry_ns, 0),
            "regime": replayed["regime"].to_numpy(),
            "strategy": replayed["strategy"].to_numpy(),
            "signal": np.arange(len(replayed)) >= len(block),  # untaken signals follow the block's trades
        }
    )
    outcomes = [result.trades(k)[["taken", "return", "pnl"]] for k in range(len(change_sets))]
    equity = result.equity.to_numpy()[:keep]
    return equity, day_ends[:keep], result.metrics, labels, outcomes


def slot_evidence(
    slot: Slot,
    record: OutOfSampleRecord,
    column: int,
    clusters: np.ndarray,
    playbook: Playbook,
    choice: Choice | None,
    reps: int,
    seed: int,
    *,
    rows: np.ndarray | None = None,
) -> Evidence:
    """The slot's test (:mod:`framework.judging`) of ``column`` against the current playbook, on the
    out-of-sample trades it reaches (``rows`` narrows them, e.g. to the holdout)."""
    # The blocks where the procedure changed nothing add only zero differences; the test asks whether
    # the changes it made (chosen on their training windows, before these trades) helped.
    proposed = np.isfinite(record.values[column])
    scope = slot.reach(record.trades) & proposed & (rows if rows is not None else True)
    base, cand = record.per_trade[0], record.per_trade[column]
    base_taken = base["taken"].to_numpy(dtype=bool) & scope
    cand_taken = cand["taken"].to_numpy(dtype=bool) & scope
    base_return = base["return"].fillna(0.0).to_numpy()
    cand_return = cand["return"].fillna(0.0).to_numpy()
    if slot.kind == "quality":
        if slot.regime == STRATEGY_WEIGHTS:
            current = playbook.strategy_weight(slot.parameter)
            raised = (choice.uncapped if choice else current) > current
            inside = base_taken
            outside = ~slot.reach(record.trades) & proposed & base["taken"].to_numpy(dtype=bool)
            if rows is not None:
                outside &= rows
            more, less = (inside, outside) if raised else (outside, inside)
            return quality_evidence(
                base_return[more], clusters[more], base_return[less], clusters[less], reps=reps, seed=seed
            )
        removed, admitted, kept = base_taken & ~cand_taken, cand_taken & ~base_taken, base_taken & cand_taken
        if removed.sum() >= admitted.sum():  # a raise: the kept trades must beat the removed ones
            return quality_evidence(
                base_return[kept], clusters[kept], base_return[removed], clusters[removed], reps=reps, seed=seed
            )
        return quality_evidence(  # a lowered threshold: the admitted trades must beat the kept ones
            cand_return[admitted], clusters[admitted], base_return[kept], clusters[kept], reps=reps, seed=seed
        )
    either = base_taken | cand_taken
    if slot.kind == "growth":
        # Each trade's share of equity at stake: its block's position size x its strategy's weight (the
        # change's own position size where it changes that), not the replay's compounding path.
        base_exposure = exposure(playbook, record.trades)
        cand_exposure = base_exposure
        if slot.spec is not None and slot.spec.scales_exposure:
            size = float(playbook.value(slot.regime, slot.parameter))  # type: ignore[arg-type]
            scale = np.where(np.isfinite(record.values[column]), record.values[column] / size, 1.0)
            cand_exposure = base_exposure * scale
        differences = np.log1p(np.where(cand_taken, cand_exposure * cand_return, 0.0)) - np.log1p(
            np.where(base_taken, base_exposure * base_return, 0.0)
        )
    else:
        differences = np.where(cand_taken, cand_return, 0.0) - np.where(base_taken, base_return, 0.0)
    return paired_evidence(slot.kind, differences[either], clusters[either], reps=reps, seed=seed)


def exposure(playbook: Playbook, trades: pd.DataFrame) -> np.ndarray:
    """Each trade's margin as a share of equity under ``playbook``: its block's position size x its
    strategy's weight."""
    sizes = {
        regime: playbook.parameters_for(regime if regime in REGIMES else DEFAULT_REGIME).position_size
        for regime in set(trades["regime"].fillna(DEFAULT_REGIME))
    }
    weights = {strategy: playbook.strategy_weight(strategy) for strategy in set(trades["strategy"])}
    regime_size = trades["regime"].fillna(DEFAULT_REGIME).map(sizes).to_numpy(dtype=float)
    weight = trades["strategy"].map(weights).to_numpy(dtype=float)
    return regime_size * weight


def own_trades(slot: Slot, trades: pd.DataFrame, baseline: pd.DataFrame, candidate: pd.DataFrame) -> dict[str, object]:
    """The change's own out-of-sample trades, before and after: see :attr:`Verdict.own_trades`."""
    scope = slot.reach(trades)
    if slot.regime == STRATEGY_WEIGHTS:
        where = f"{slot.parameter} trades"
    else:
        where = "all trades" if slot.regime == DEFAULT_REGIME else f"{slot.regime} trades"

    def summary(frame: pd.DataFrame) -> dict[str, float | int | None]:
        taken = frame[scope & frame["taken"].to_numpy(dtype=bool)]
        if taken.empty:
            return {"taken": 0, "win_rate": None, "mean_return": None, "pnl": None}
        return {
            "taken": len(taken),
            "win_rate": float((taken["return"] > 0).mean()),
            "mean_return": float(taken["return"].mean()),
            "pnl": float(taken["pnl"].sum()),
        }

    logged = int((scope & ~trades["signal"].to_numpy()).sum())  # untaken signals are no logged trades
    return {"scope": where, "trades": logged, "baseline": summary(baseline), "candidate": summary(candidate)}


def _outcome(daily: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    growth = np.cumprod(1.0 + daily)
    peak = np.maximum.accumulate(np.concatenate([[1.0], growth]))
    drawdown = float((np.concatenate([[1.0], growth]) / peak - 1.0).min())
    spread = daily.std(ddof=1) if len(daily) > 1 else 0.0
    return {
        "total_return": float(growth[-1] - 1.0),
        "log_growth": float(np.log(growth[-1])) if growth[-1] > 0 else -math.inf,
        "sharpe": float(daily.mean() / spread * math.sqrt(DAYS_PER_YEAR)) if spread > 0 else math.nan,
        "max_drawdown": drawdown,
        "trades_taken": float(counts[0]),
        "liquidations": float(counts[1]),
    }


def signals_within(signals: pd.DataFrame | None, trades: pd.DataFrame) -> pd.DataFrame | None:
    if signals is None or trades.empty:
        return signals
    inside = signals["entry_time"].between(trades["entry_time"].min(), trades["entry_time"].max())
    return signals[inside]


def judged_daily_returns(slot: Slot, candidate: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """What a slot is compared on: daily log returns, scaled to the current playbook's volatility unless
    the schema says the parameter is not judged risk-adjusted.

    Leverage is judged on log growth itself. Anything else is judged risk-adjusted: less exposure to a
    book with no edge always grows a little more (less variance drag, fewer fees), which says nothing
    about the change's merit; at equal volatility only a better mix of trades wins.
    """
    if slot.spec is not None and not slot.spec.risk_adjusted:
        return np.log1p(candidate)
    spread = candidate.std()
    scale = baseline.std() / spread if spread > 0 else 1.0
    return np.log1p(candidate * scale)
