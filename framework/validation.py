"""The validation gate: a proposed change becomes a recommendation only when out-of-sample evidence,
corrected for how many proposals were tested, says it helps.

The trade log (sorted by entry) is cut into a search window and a final holdout (the last
``holdout_fraction`` of the trades, never seen by any tuner). The search window is split into anchored
walk-forward folds (:class:`framework.models.PurgedTimeSeriesSplit`: training trades whose [entry, exit]
span reaches into the test block are purged); when the trades hold too long for ``folds`` of them, fewer
are used (:func:`plan_windows` says how many and why). On each fold the tuners are refit on the
training trades, and each (tuner, block, parameter) *slot* they propose keeps its best candidate; the
final pass on the whole search window gives the value recommended, replayed on the holdout. Chaining
the test blocks and the holdout gives every slot an out-of-sample record of the procedure that produced
it, next to the current playbook's on the same trades.

A slot is tested if any fold or the final pass proposed it (so the set tested is not chosen on the
folds' test blocks). Each slot's direction is judged on its best candidate *before* the change cap (the
tuner's evidence points there), and the capped step a session may take must itself not be worse. The
test (:mod:`framework.judging`) is per trade, paired with the current playbook; its one-sided p-value is
corrected with Holm's method over the slots tested, and the recommendation's confidence is 1 - that.

Rejected with the first rule that fails:

- the pass on the whole search window must have proposed the slot (the value to recommend);
- enough out-of-sample trades in its block (``min_oos_trades``), and as many among the trades the test
  compares (those of the blocks where the procedure changed something): thin data is an answer;
- a lower confidence threshold only with a signal log (executed trades cannot show it);
- no liquidation out of sample, and a max drawdown no worse than the current playbook's by more than
  ``max_drawdown_margin``;
- the Holm-adjusted p-value below ``alpha``;
- the capped step itself no worse than the current value out of sample (its effect not negative);
- on the holdout, which no tuner saw, the recommended value not significantly worse (its 90 % interval
  not wholly below zero): the fold blocks test the procedure, only the holdout tests the very value.

The deflated Sharpe ratio of the daily log-return difference is reported with every verdict, with N =
the out-of-sample series compared (slots x the capped and uncapped candidates) and V = the variance of
their Sharpe ratios; ``min_dsr`` applies to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.judging import Evidence, day_clusters, holm, paired_evidence, quality_evidence
from framework.market import Market
from framework.models import feasible_folds
from framework.playbook import DEFAULT_REGIME, STRATEGY_WEIGHTS, ParameterChange, Playbook
from framework.regimes import REGIMES
from framework.replay import prepare, replay_tables, tables_for_changes
from framework.replay.engine import DEFAULT_INITIAL_EQUITY
from framework.safety import Refusal, SafeProposal
from framework.statistics import deflated_sharpe_ratio, sharpe_per_period
from framework.tuners.base import ReplayHandle, Tuner, TuningContext
from framework.tuning import TuningPass, build_context, run_tuners, with_untaken_signals

OUTCOME_METRICS = ("total_return", "log_growth", "sharpe", "max_drawdown", "trades_taken", "liquidations")
KIND_OF_PARAMETER = {
    "leverage": "growth",
    "position_size": "growth",
    "confidence_threshold": "quality",
    "stop_loss": "return",
    "risk_reward_ratio": "return",
    "max_hold": "return",
}
"""Which test judges a parameter (:mod:`framework.judging`); a strategy weight is judged on quality."""


@dataclass(frozen=True)
class Slot:
    """What a proposal changes: one parameter of one playbook block, as proposed by one tuner."""

    tuner: str
    regime: str
    parameter: str

    def describe(self) -> str:
        return f"{self.regime}.{self.parameter}"

    @property
    def kind(self) -> str:
        return "quality" if self.regime == STRATEGY_WEIGHTS else KIND_OF_PARAMETER[self.parameter]


@dataclass(frozen=True)
class Choice:
    """A pass's best candidate for a slot: the capped step a session may take, and the value the
    tuner's evidence points at before the change cap (the same when the cap did not bind)."""

    capped: float
    uncapped: float


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one slot. Metrics are dictionaries of ``OUTCOME_METRICS``; ``evidence``
    holds the test's figures (see :func:`run_gate`)."""

    slot: Slot
    proposal: SafeProposal
    value: float
    accepted: bool
    reason: str
    p_value: float
    dsr: float
    n_trials: int
    oos_trades: int
    baseline_in: dict[str, float]
    candidate_in: dict[str, float]
    baseline_out: dict[str, float]
    candidate_out: dict[str, float]
    baseline_equity: pd.Series = field(repr=False)
    candidate_equity: pd.Series = field(repr=False)
    own_trades: dict[str, object] = field(default_factory=dict)
    """The out-of-sample trades the change reaches (its regime, or its strategy): ``scope``, ``trades``,
    and ``baseline`` / ``candidate`` dictionaries of ``taken``, ``win_rate``, ``mean_return`` (on
    margin, fraction) and ``pnl`` (quote currency)."""
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """Recommendation confidence: 1 - the Holm-adjusted p-value."""
        return 1.0 - self.p_value


@dataclass(frozen=True)
class GateReport:
    """Everything the gate found: verdicts on the slots tested and what never reached it."""

    verdicts: tuple[Verdict, ...]
    refused: tuple[Refusal, ...]
    final_pass: TuningPass
    search_trades: int
    holdout_trades: int
    folds: int
    out_of_sample_by_regime: dict[str, int] = field(default_factory=dict)
    """Trades per regime in the fold test blocks and the holdout: what ``min_oos_trades`` is counted on."""
    layout: str = ""
    """How the trades were cut, in words (the folds used, and why fewer than configured)."""
    out_of_sample_days: int = 0
    """T: days of the chained out-of-sample record (each block's days up to its last exit)."""

    @property
    def accepted(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.accepted)


@dataclass(frozen=True)
class WindowPlan:
    """How the gate cuts a trade log: the search window, its walk-forward folds and the holdout."""

    search: pd.DataFrame
    holdout: pd.DataFrame
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    """(training rows, test rows) of ``search`` per fold, purged."""
    layout: str

    @property
    def out_of_sample(self) -> pd.DataFrame:
        """Every trade some out-of-sample replay covers: the fold test blocks, then the holdout."""
        blocks = [self.search.iloc[test] for _, test in self.folds] + [self.holdout]
        return pd.concat(blocks, ignore_index=True)

    def out_of_sample_by_regime(self) -> dict[str, int]:
        counts = self.out_of_sample["regime"].value_counts()
        return {regime: int(counts.get(regime, 0)) for regime in REGIMES}


def plan_windows(trades: pd.DataFrame, settings: Settings) -> WindowPlan:
    """The search window (trades sorted by entry, less the last ``holdout_fraction``, less the trades
    still open when the holdout begins), its walk-forward folds, and the holdout.

    ``folds`` folds when every one leaves at least ``min_trades_for_tuning`` training trades after
    purging; else the most that do (trades held long purge much of a short block), down to 2; else none,
    and the holdout is the only out-of-sample record. ``layout`` says which, and why.
    """
    gate = settings.validation
    trades = trades.sort_values("entry_time", kind="stable").reset_index(drop=True)
    cut = int(len(trades) * (1.0 - gate.holdout_fraction))
    holdout = trades.iloc[cut:].reset_index(drop=True)
    holdout_start = holdout["entry_time"].min() if len(holdout) else trades["exit_time"].max()
    search = trades.iloc[:cut]
    search = search[search["exit_time"] < holdout_start].reset_index(drop=True)
    layout = feasible_folds(search["entry_time"], search["exit_time"], gate.folds, settings.min_trades_for_tuning)
    if layout.folds:
        text = f"{len(layout.folds)} walk-forward folds and a holdout of {len(holdout)} trades"
        if layout.refused:
            text += f" (not {gate.folds}: {layout.refused})"
    else:
        text = (
            f"no walk-forward fold ({layout.refused}): the holdout of {len(holdout)} trades is the only "
            "out-of-sample record"
        )
    return WindowPlan(search, holdout, layout.folds, text)


def run_gate(
    trades: pd.DataFrame,
    market: Market,
    playbook: Playbook,
    settings: Settings,
    tuners: Sequence[Tuner],
    *,
    signals: pd.DataFrame | None = None,
    seed: int = 0,
    safety: bool = True,
    progress: Callable[[str], None] = lambda step: None,
) -> GateReport:
    """Tune on the search window, replay every slot out of sample, and judge it (see the module doc).

    ``trades`` is a canonical trade log with ``regime`` filled (``label_trades``). ``safety=False``
    judges proposals as written (a hand-written playbook) instead of through the safety rules.
    ``progress`` is told each stage (fold, tuner) as it starts.
    """
    gate = settings.validation
    plan = plan_windows(trades, settings)
    search, holdout = plan.search, plan.holdout
    oos_by_regime = plan.out_of_sample_by_regime()
    fold_choices: list[dict[Slot, Choice]] = []
    fold_tests: list[pd.DataFrame] = []
    proposals: dict[Slot, SafeProposal] = {}
    for k, (train, test) in enumerate(plan.folds, start=1):
        train_trades = search.iloc[train]
        where = f"fold {k} of {len(plan.folds)}, {len(train_trades)} training trades"
        if k == 1:
            where += " (the first run also compiles the kernels, about 30 s, cached after)"
        fold_pass, _ = _tuning_pass(
            train_trades, market, playbook, settings, tuners, signals, seed, safety, _named(progress, where)
        )
        fold_choices.append(_choices(fold_pass))
        proposals.update({_slot(p): p for p in fold_pass.accepted})
        fold_tests.append(search.iloc[test])
    final_pass, final_context = _tuning_pass(
        search, market, playbook, settings, tuners, signals, seed, safety,
        _named(progress, f"final pass on the search window, {len(search)} trades"),
    )  # fmt: skip
    final_choices = _choices(final_pass)
    proposals.update({_slot(p): p for p in final_pass.accepted})
    slots = list(proposals)  # every slot a fold or the final pass proposed
    report = GateReport(
        (), final_pass.refused, final_pass, len(search), len(holdout), len(plan.folds), oos_by_regime, plan.layout
    )
    if not slots or holdout.empty:
        return report

    progress(f"replaying {len(slots)} proposals out of sample and judging them")
    blocks = [*zip(fold_tests, fold_choices, strict=True), (holdout, final_choices)]
    record = _out_of_sample(blocks, slots, market, playbook, settings, signals)
    in_sample = _in_sample(final_context.replay, slots, final_choices)
    logged = ~record.trades["signal"].to_numpy()
    clusters = day_clusters(record.trades["entry_ns"].to_numpy(), record.trades["hold_ns"].to_numpy()[logged])
    reps = gate.spa_reps
    tests = [
        _evidence(slot, record, 2 * k + 2, clusters, playbook, final_choices.get(slot), reps, seed)
        for k, slot in enumerate(slots)
    ]
    capped_tests = [
        _evidence(slot, record, 2 * k + 1, clusters, playbook, final_choices.get(slot), reps, seed)
        for k, slot in enumerate(slots)
    ]
    holdout_rows = record.trades["holdout"].to_numpy()
    holdout_tests = [
        _evidence(slot, record, 2 * k + 1, clusters, playbook, final_choices.get(slot), reps, seed, rows=holdout_rows)
        for k, slot in enumerate(slots)
    ]
    adjusted = holm([t.p_value for t in tests])
    base_log = np.log1p(record.daily[:, 0])
    differences = {
        column: _judged_returns(slots[(column - 1) // 2], record.daily[:, column], record.daily[:, 0]) - base_log
        for column in range(1, record.daily.shape[1])
        if not np.array_equal(record.daily[:, column], record.daily[:, 0])
    }
    sharpes = [_difference_sharpe(d) for d in differences.values()]
    finite = [x for x in sharpes if math.isfinite(x)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    n_series = max(len(differences), 1)

    verdicts = []
    for k, slot in enumerate(slots):
        proposal = proposals[slot]
        choice = final_choices.get(slot)
        column = 2 * k + 2
        dsr = _dsr(differences.get(column, np.zeros(len(base_log))), n_series, variance)
        scope = _scope_count(record.trades[logged], slot)
        baseline_out, candidate_out = record.outcomes[0], record.outcomes[2 * k + 1]
        evidence = {
            "test": tests[k].test,
            "trades_compared": tests[k].observations,
            "clusters": tests[k].clusters,
            "effect": tests[k].effect,
            "interval": list(tests[k].interval),
            "p_value_raw": tests[k].p_value,
            "p_value": adjusted[k],
            "slots_tested": len(slots),
            "judged_value": choice.uncapped if choice else None,
            "capped_effect": capped_tests[k].effect,
            "holdout_effect": holdout_tests[k].effect,
            "holdout_interval": list(holdout_tests[k].interval),
            "out_of_sample_days": record.days,
            "fold_values": [c[slot].capped if slot in c else None for c in fold_choices],
            "dsr_trials": n_series,
            "dsr_trial_variance": variance,
            "needed_trades": _finite_or_none(
                tests[k].needed_trades(_corrected_alpha(gate.alpha, tests[k].p_value, adjusted[k]))
            ),
            "layout": plan.layout,
        }
        reason = _judge(
            slot, proposal, choice, adjusted[k], tests[k], capped_tests[k], holdout_tests[k], scope,
            baseline_out, candidate_out, dsr, settings, signals is not None, record,
        )  # fmt: skip
        verdicts.append(
            Verdict(
                slot=slot,
                proposal=proposal,
                value=choice.capped if choice else proposal.candidates[0],
                accepted=reason is None,
                reason=reason or "validated out of sample",
                p_value=adjusted[k],
                dsr=dsr,
                n_trials=max(proposal.proposal.n_trials, len(proposal.candidates)),
                oos_trades=scope,
                baseline_in=in_sample[0],
                candidate_in=in_sample[k + 1],
                baseline_out=baseline_out,
                candidate_out=candidate_out,
                baseline_equity=record.equity[0],
                candidate_equity=record.equity[2 * k + 1],
                own_trades=_own_trades(slot, record.trades, record.per_trade[0], record.per_trade[2 * k + 1]),
                evidence=evidence,
            )
        )
    return GateReport(
        tuple(verdicts), final_pass.refused, final_pass, len(search), len(holdout), len(plan.folds),
        oos_by_regime, plan.layout, record.days,
    )  # fmt: skip


def _tuning_pass(
    trades: pd.DataFrame,
    market: Market,
    playbook: Playbook,
    settings: Settings,
    tuners: Sequence[Tuner],
    signals: pd.DataFrame | None,
    seed: int,
    safety: bool,
    progress: Callable[[str], None],
) -> tuple[TuningPass, TuningContext]:
    progress("preparing regimes, features and the replay")
    window = _signals_within(signals, trades)
    context = build_context(trades, market, playbook, settings, signals=window, seed=seed)
    return run_tuners(tuners, context, safety=safety, progress=progress), context


def _named(progress: Callable[[str], None], where: str) -> Callable[[str], None]:
    return lambda step: progress(f"{where}: {step}")


def _slot(proposal: SafeProposal) -> Slot:
    return Slot(proposal.proposal.tuner, proposal.proposal.regime, proposal.proposal.parameter)


def _choices(tuning: TuningPass) -> dict[Slot, Choice]:
    """Each slot's best candidate: the capped step and the value before the cap."""
    return {_slot(p): Choice(p.candidates[0], p.direction_values[0]) for p in tuning.accepted}


def _change(slot: Slot, value: float) -> ParameterChange:
    return ParameterChange(slot.regime, slot.parameter, value)


@dataclass(frozen=True)
class _Record:
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


def _out_of_sample(
    blocks: list[tuple[pd.DataFrame, dict[Slot, Choice]]],
    slots: list[Slot],
    market: Market,
    playbook: Playbook,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> _Record:
    """Replay every block under the current playbook and each slot's capped and uncapped values (the
    current value where the block's pass proposed nothing) and chain the blocks (each starting from the
    last one's end; a day two blocks share appears twice)."""
    returns: list[np.ndarray] = []
    days: list[pd.DatetimeIndex] = []
    counts = np.zeros((2 * len(slots) + 1, 2))  # trades taken, liquidations
    rows: list[pd.DataFrame] = []
    per_trade: list[list[pd.DataFrame]] = [[] for _ in range(2 * len(slots) + 1)]
    values: list[np.ndarray] = []
    for number, (block, choices) in enumerate(blocks):
        if block.empty:
            continue
        daily, index, metrics, labels, outcomes = _replay_block(
            block, choices, slots, market, playbook, settings, signals
        )
        previous = np.vstack([np.full((1, daily.shape[1]), DEFAULT_INITIAL_EQUITY), daily[:-1]])
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
    equity = pd.DataFrame(DEFAULT_INITIAL_EQUITY * np.cumprod(1.0 + stacked, axis=0), index=index)
    outcomes_chained = [_outcome(stacked[:, k], counts[k]) for k in range(stacked.shape[1])]
    return _Record(
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
    market: Market,
    playbook: Playbook,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> tuple[np.ndarray, pd.DatetimeIndex, pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """One block's replay: daily equity (days x columns) up to the day of its last exit, those day
    ends, the metrics, the replayed trades' labels and the per-trade outcomes of every column."""
    replayed = with_untaken_signals(block, _signals_within(signals, block), market, playbook)
    inputs = prepare(replayed, market, settings.replay)
    change_sets: list[list[ParameterChange]] = [[]]
    for slot in slots:
        choice = choices.get(slot)
        change_sets.append([_change(slot, choice.capped)] if choice else [])
        change_sets.append([_change(slot, choice.uncapped)] if choice else [])
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


def _scope(trades: pd.DataFrame, slot: Slot) -> np.ndarray:
    if slot.regime == STRATEGY_WEIGHTS:
        return (trades["strategy"] == slot.parameter).to_numpy()
    if slot.regime == DEFAULT_REGIME:
        return np.ones(len(trades), dtype=bool)
    return (trades["regime"] == slot.regime).to_numpy()


def _evidence(
    slot: Slot,
    record: _Record,
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
    scope = _scope(record.trades, slot) & proposed & (rows if rows is not None else True)
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
            outside = ~_scope(record.trades, slot) & proposed & base["taken"].to_numpy(dtype=bool)
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
        base_exposure = _exposure(playbook, record.trades)
        cand_exposure = base_exposure
        if slot.parameter == "position_size":
            current = playbook.parameters_for(slot.regime).position_size
            scale = np.where(np.isfinite(record.values[column]), record.values[column] / current, 1.0)
            cand_exposure = base_exposure * scale
        differences = np.log1p(np.where(cand_taken, cand_exposure * cand_return, 0.0)) - np.log1p(
            np.where(base_taken, base_exposure * base_return, 0.0)
        )
    else:
        differences = np.where(cand_taken, cand_return, 0.0) - np.where(base_taken, base_return, 0.0)
    return paired_evidence(slot.kind, differences[either], clusters[either], reps=reps, seed=seed)


def _exposure(playbook: Playbook, trades: pd.DataFrame) -> np.ndarray:
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


def _own_trades(slot: Slot, trades: pd.DataFrame, baseline: pd.DataFrame, candidate: pd.DataFrame) -> dict[str, object]:
    """The change's own out-of-sample trades, before and after: see :attr:`Verdict.own_trades`."""
    scope = _scope(trades, slot)
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
        "sharpe": float(daily.mean() / spread * math.sqrt(365.0)) if spread > 0 else math.nan,
        "max_drawdown": drawdown,
        "trades_taken": float(counts[0]),
        "liquidations": float(counts[1]),
    }


def _in_sample(replay: ReplayHandle, slots: list[Slot], choices: dict[Slot, Choice]) -> list[dict[str, float]]:
    """Outcome metrics on the search window (the final pass's own replay) of the current playbook, then
    of each slot's capped step (the current value where the final pass proposed nothing)."""
    change_sets: list[list[ParameterChange]] = [[]]
    change_sets += [[_change(s, choices[s].capped)] if s in choices else [] for s in slots]
    metrics = replay.evaluate(change_sets)
    return [{name: float(row[name]) for name in OUTCOME_METRICS} for _, row in metrics.iterrows()]


def _signals_within(signals: pd.DataFrame | None, trades: pd.DataFrame) -> pd.DataFrame | None:
    if signals is None or trades.empty:
        return signals
    inside = signals["entry_time"].between(trades["entry_time"].min(), trades["entry_time"].max())
    return signals[inside]


def _judged_returns(slot: Slot, candidate: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """What a slot is compared on: daily log returns, scaled to the current playbook's volatility for
    every parameter but leverage.

    Leverage is judged on log growth itself. Anything else is judged risk-adjusted: less exposure to a
    book with no edge always grows a little more (less variance drag, fewer fees), which says nothing
    about the change's merit; at equal volatility only a better mix of trades wins.
    """
    if slot.parameter == "leverage":
        return np.log1p(candidate)
    spread = candidate.std()
    scale = baseline.std() / spread if spread > 0 else 1.0
    return np.log1p(candidate * scale)


def _difference_sharpe(difference: np.ndarray) -> float:
    try:
        return sharpe_per_period(difference)
    except ValueError:
        return math.nan


def _dsr(difference: np.ndarray, n_trials: int, variance: float) -> float:
    try:
        value = deflated_sharpe_ratio(difference, n_trials=n_trials, trial_sharpe_variance=variance)
    except ValueError:
        return 0.0
    return 0.0 if math.isnan(value) else value


def _scope_count(trades: pd.DataFrame, slot: Slot) -> int:
    if slot.regime == STRATEGY_WEIGHTS:
        return int((trades["strategy"] == slot.parameter).sum())
    if slot.regime == DEFAULT_REGIME:
        return len(trades)
    return int((trades["regime"] == slot.regime).sum())


def _judge(
    slot: Slot,
    proposal: SafeProposal,
    choice: Choice | None,
    p_value: float,
    test: Evidence,
    capped: Evidence,
    holdout: Evidence,
    oos_trades: int,
    baseline: dict[str, float],
    candidate: dict[str, float],
    dsr: float,
    settings: Settings,
    has_signals: bool,
    record: _Record,
) -> str | None:
    """The first reason to reject, or None to accept (the rules of the module doc, in order)."""
    gate = settings.validation
    where = slot.parameter if slot.regime == STRATEGY_WEIGHTS else slot.regime
    if choice is None:
        return "only walk-forward folds proposed it: the pass on the whole search window proposed no change"
    need = gate.min_oos_trades
    if oos_trades < need:
        return f"not enough trades in {where} out of sample (n={oos_trades}, need {need}: min_oos_trades)"
    if test.observations < need:
        return (
            f"not enough trades in {where} out of sample where the walk-forward passes changed it "
            f"(n={test.observations} of {oos_trades}, need {need}: min_oos_trades)"
        )
    current = proposal.proposal.current
    if slot.parameter == "confidence_threshold" and choice.capped < current and not has_signals:
        return "a lower confidence threshold can only be validated with a signal log"
    if candidate["liquidations"] > 0:
        return f"liquidated {candidate['liquidations']:.0f} times out of sample"
    if candidate["max_drawdown"] < baseline["max_drawdown"] - gate.max_drawdown_margin:
        return (
            f"out-of-sample max drawdown {candidate['max_drawdown']:.1%} is worse than the current "
            f"{baseline['max_drawdown']:.1%} by more than {gate.max_drawdown_margin:.0%}"
        )
    judged = f"{current:g} -> {choice.uncapped:g}"
    if p_value >= gate.alpha:
        return (
            f"no significant out-of-sample improvement for {judged} ({test.test}: {_effect_text(test)}, "
            f"p={p_value:.3f} after Holm's correction, need < {gate.alpha})"
            f"{_more_needed(test, record, _corrected_alpha(gate.alpha, test.p_value, p_value))}"
        )
    if capped.effect < 0:
        return (
            f"the capped step {current:g} -> {choice.capped:g} is itself worse out of sample "
            f"({_effect_text(capped)}), though {judged} is better"
        )
    if holdout.significantly_worse:
        return f"significantly worse on the holdout no tuner saw ({_effect_text(holdout)})"
    if dsr < gate.min_dsr:
        return (
            f"deflated Sharpe ratio {dsr:.2f} of the daily difference, over {record.daily.shape[1] - 1} "
            f"series compared (need {gate.min_dsr})"
        )
    return None


def _effect_text(evidence: Evidence) -> str:
    low, high = evidence.interval
    interval = f"90 % interval [{low:+.4f}, {high:+.4f}]"
    return f"effect {evidence.effect:+.4f} per trade, {interval}, {evidence.observations} trades"


def _more_needed(test: Evidence, record: _Record, alpha: float) -> str:
    """'; at the measured effect about N more trades (~D days)', when the effect points the right way."""
    needed = test.needed_trades(alpha)
    if not math.isfinite(needed) or needed <= test.observations:
        return ""
    more = math.ceil(needed - test.observations)
    per_day = test.observations / max(record.days, 1)
    days = f" (~{math.ceil(more / per_day)} days at this log's rate)" if per_day > 0 else ""
    return f"; at the measured effect about {more} more out-of-sample trades would be needed{days}"


def _corrected_alpha(alpha: float, raw: float, adjusted: float) -> float:
    """The level a raw p-value must reach for its Holm-adjusted one to pass ``alpha``."""
    return alpha * raw / adjusted if adjusted > 0 and raw > 0 else alpha


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
