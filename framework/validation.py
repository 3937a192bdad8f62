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
  not wholly below zero): the fold blocks test the procedure, only the holdout tests the very value;
- last, re-simulated in vectorbt (:mod:`framework.replay.vectorbt_check`), the change's out-of-sample
  trades under the current playbook and under the change agree with the replay's wherever vectorbt can
  express the rules (docs/REPLAY.md): a replay vectorbt contradicts recommends nothing.

The deflated Sharpe ratio of the daily log-return difference is reported with every verdict, with N =
the out-of-sample series compared (slots x the capped and uncapped candidates) and V = the variance of
their Sharpe ratios; ``min_dsr`` applies to it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.judging import Evidence, day_clusters, holm
from framework.market import Market
from framework.models import ModelStore, feasible_folds
from framework.out_of_sample import (
    OUTCOME_METRICS,
    Choice,
    OutOfSampleRecord,
    Slot,
    change_of,
    judged_daily_returns,
    own_trades,
    replay_out_of_sample,
    signals_within,
    slot_evidence,
)
from framework.parallel import ordered_map, workers_kept
from framework.playbook import STRATEGY_WEIGHTS, ParameterChange, Playbook
from framework.regimes import REGIMES, RegimeLabels
from framework.replay import replay_tables, select, tables_for_changes, vectorbt_check
from framework.safety import Refusal, SafeProposal
from framework.search import DataRef
from framework.statistics import deflated_sharpe_ratio, sharpe_per_period
from framework.tuners.base import ReplayHandle, Tuner, TuningContext
from framework.tuning import (
    TuneData,
    TunerRun,
    TuningPass,
    build_context,
    finish_pass,
    propose,
    tune_data,
    with_untaken_signals,
)


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


@workers_kept()  # the tuning passes' process workers go on to the vectorbt check
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
    labels: RegimeLabels | None = None,
    search_storage: str | None = None,
    model_store: ModelStore | None = None,
    data_ref: DataRef | None = None,
) -> GateReport:
    """Tune on the search window, replay every slot out of sample, and judge it (see the module doc).

    ``trades`` is a canonical trade log with ``regime`` filled (``label_trades``). ``safety=False``
    judges proposals as written (a hand-written playbook) instead of through the safety rules.
    ``progress`` is told each stage (fold, tuner) as it starts (on workers: as its answer is awaited).
    ``labels`` (of ``market``) reuses the regime labels already computed; ``search_storage`` is the
    Optuna storage URL the tuners' searches use (None: in memory), and ``data_ref`` where workers find
    the trades (each window's studies get it narrowed to the window). With ``model_store``, the models
    the tuners fit in the final pass (on the whole search window: those behind the values recommended)
    are saved there; the folds' are not. Every tuner on every window (the folds and the final pass) runs
    at once as ``settings.parallel`` says (:mod:`framework.parallel`), with the session serial gives.

    The regime labels, the market features and the replay inputs are computed once for all the
    windows (:func:`framework.tuning.tune_data`); each fold, the final pass and each replayed block
    takes its part, with the results it would get computing its own.
    """
    settings = settings.model_copy(update={"parallel": settings.parallel.for_trades(len(trades))})
    gate = settings.validation
    plan = plan_windows(trades, settings)
    search, holdout = plan.search, plan.holdout
    progress("preparing regimes, features and the replay")
    shared = tune_data(
        pd.concat([search, holdout], ignore_index=True), _signals_of(signals, [search, holdout]), market, playbook,
        settings, labels,
    )  # fmt: skip
    oos_by_regime = plan.out_of_sample_by_regime()
    windows = [*(train for train, _ in plan.folds), None]  # the folds' training rows, then the whole search window
    folds = len(plan.folds)
    wheres = [f"fold {k} of {folds}, {len(train)} training trades" for k, (train, _) in enumerate(plan.folds, 1)]
    wheres.append(f"final pass on the search window, {len(search)} trades")
    if plan.folds:
        wheres[0] += " (the first run also compiles the kernels, about 30 s, cached after)"
    passes = _tuning_passes(
        _Passes(shared, search, tuple(windows), signals, settings, tuple(tuners), seed, search_storage, data_ref),
        model_store, safety, lambda k, step: progress(f"{wheres[k]}: {step}"),
    )  # fmt: skip
    fold_choices = [_choices(fold_pass) for fold_pass, _ in passes[:-1]]
    fold_tests = [search.iloc[test] for _, test in plan.folds]
    proposals: dict[Slot, SafeProposal] = {_slot(p): p for fold_pass, _ in passes[:-1] for p in fold_pass.accepted}
    final_pass, final_context = passes[-1]
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
    record = replay_out_of_sample(blocks, slots, shared, settings, signals)
    in_sample = _in_sample(final_context.replay, slots, final_choices)
    logged = ~record.trades["signal"].to_numpy()
    clusters = day_clusters(record.trades["entry_ns"].to_numpy(), record.trades["hold_ns"].to_numpy()[logged])
    reps = gate.spa_reps
    tests = [
        slot_evidence(slot, record, 2 * k + 2, clusters, playbook, final_choices.get(slot), reps, seed)
        for k, slot in enumerate(slots)
    ]
    capped_tests = [
        slot_evidence(slot, record, 2 * k + 1, clusters, playbook, final_choices.get(slot), reps, seed)
        for k, slot in enumerate(slots)
    ]
    holdout_rows = record.trades["holdout"].to_numpy()
    holdout_tests = [
        slot_evidence(
            slot, record, 2 * k + 1, clusters, playbook, final_choices.get(slot), reps, seed, rows=holdout_rows
        )
        for k, slot in enumerate(slots)
    ]
    adjusted = holm([t.p_value for t in tests])
    base_log = np.log1p(record.daily[:, 0])
    differences = {
        column: judged_daily_returns(slots[(column - 1) // 2], record.daily[:, column], record.daily[:, 0]) - base_log
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
        scope = int(slot.reach(record.trades)[logged].sum())
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
                own_trades=own_trades(slot, record.trades, record.per_trade[0], record.per_trade[2 * k + 1]),
                evidence=evidence,
            )
        )
    verdicts = _checked_in_vectorbt(verdicts, blocks, shared, settings, signals)
    return GateReport(
        tuple(verdicts), final_pass.refused, final_pass, len(search), len(holdout), len(plan.folds),
        oos_by_regime, plan.layout, record.days,
    )  # fmt: skip


def _checked_in_vectorbt(
    verdicts: list[Verdict],
    blocks: list[tuple[pd.DataFrame, dict[Slot, Choice]]],
    shared: TuneData,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> list[Verdict]:
    """The accepted verdicts with their out-of-sample trades re-simulated in vectorbt
    (:mod:`framework.replay.vectorbt_check`): in each block whose pass proposed the change, the trades
    it reaches under the current playbook and under the block's capped step. The agreement goes into
    the evidence (``vectorbt``); a change vectorbt disagrees with is refused. vectorbt is imported only
    when something was accepted."""
    accepted = [v.slot for v in verdicts if v.accepted]
    replays: list[vectorbt_check.Replayed] = []
    for block, choices in blocks:
        changed = [slot for slot in accepted if slot in choices]
        if block.empty or not changed:
            continue
        window = signals_within(signals, block)
        trades = with_untaken_signals(block, window, shared.market, shared.playbook, shared.labels)
        inputs = select(shared.replay, trades)
        change_sets = [[], *([change_of(slot, choices[slot].capped)] for slot in changed)]
        tables = tables_for_changes(inputs, shared.playbook, change_sets)
        result = replay_tables(inputs, tables, settings.replay, per_trade=True)
        for column, slot in enumerate(changed, start=1):
            rows = slot.reach(trades)
            replays.append(vectorbt_check.replayed(result, 0, group=slot, label="current", rows=rows))
            replays.append(vectorbt_check.replayed(result, column, group=slot, label="changed", rows=rows))
    if not replays:
        return verdicts
    agreements = vectorbt_check.check(replays, settings.parallel)
    checked = []
    for verdict in verdicts:
        agreement = agreements.get(verdict.slot)
        if agreement is None:
            checked.append(verdict)
            continue
        evidence = {**verdict.evidence, "vectorbt": agreement.evidence()}
        if agreement.agree:
            checked.append(replace(verdict, evidence=evidence))
        else:
            checked.append(replace(verdict, evidence=evidence, accepted=False, reason=agreement.refusal()))
    return checked


@dataclass(eq=False)
class _Passes:
    """What the gate's tuning passes read, sent once to each worker: the tune's data, the search window,
    each pass's training rows of it (None: all of it) and the tuners. A worker builds each window's
    context once for the tuners it runs there."""

    shared: TuneData
    search: pd.DataFrame
    windows: tuple[np.ndarray | None, ...]
    signals: pd.DataFrame | None
    settings: Settings
    tuners: tuple[Tuner, ...]
    seed: int
    search_storage: str | None
    data_ref: DataRef | None
    _recent: tuple[int, TuningContext] | None = field(default=None, init=False, repr=False)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_recent": None}  # a cache, never shipped to workers

    def context(self, window: int) -> TuningContext:
        """The context of the ``window``-th pass (the last one's kept, as a worker's tuners share it)."""
        if self._recent is None or self._recent[0] != window:
            rows = self.windows[window]
            trades = self.search if rows is None else self.search.iloc[rows]
            context = build_context(
                trades, self.shared.market, self.shared.playbook, self.settings,
                signals=signals_within(self.signals, trades), seed=self.seed, search_storage=self.search_storage,
                data_ref=self.data_ref.within(trades) if self.data_ref else None, shared=self.shared,
            )  # fmt: skip
            context.study_suffix = f"-{_window_digest(context)}"
            self._recent = (window, context)
        return self._recent[1]


def _tuning_passes(
    passes: _Passes,
    model_store: ModelStore | None,
    safety: bool,
    progress: Callable[[int, str], None],
) -> list[tuple[TuningPass, TuningContext]]:
    """Every window's tuning pass and context: the tuners on all the windows as one map
    (``settings.parallel``), each pass finished here in order; ``model_store`` keeps the last pass's
    models. ``progress(window, tuner name)`` is told as each answer is awaited."""
    items = [(window, tuner) for window in range(len(passes.windows)) for tuner in range(len(passes.tuners))]
    runs = ordered_map(
        _propose_on, passes, items, passes.settings.parallel,
        before_each=lambda k: progress(items[k][0], passes.tuners[items[k][1]].name),
    )  # fmt: skip
    finished = []
    for window in range(len(passes.windows)):
        window_runs = list(itertools.islice(runs, len(passes.tuners)))
        context = passes.context(window)
        store = model_store if window == len(passes.windows) - 1 else None
        finished.append((finish_pass(window_runs, context, store, safety=safety), context))
    return finished


def _propose_on(passes: _Passes, item: tuple[int, int]) -> TunerRun:
    """One tuner's answer on one window; a copy of the tuner, as every window starts from the tuner
    as constructed, wherever and in whatever order the windows run."""
    window, tuner = item
    return propose(copy.deepcopy(passes.tuners[tuner]), passes.context(window))


def _window_digest(context: TuningContext) -> str:
    """12 hex digits of SHA-256 over the window's replayed trades, the playbook and the replay settings:
    a name for its search studies that differs between windows and repeats with the same data."""
    inputs = context.replay.inputs
    digest = hashlib.sha256("\x1f".join(map(str, inputs.trade_id)).encode("utf-8"))
    for name in ("entry_ns", "entry_price", "confidence", "logged_exit_ns", "logged_exit_price"):
        digest.update(np.ascontiguousarray(inputs.arrays[name]).tobytes())
    digest.update(context.playbook.sha256().encode("utf-8"))
    digest.update(context.replay.settings.model_dump_json().encode("utf-8"))
    return digest.hexdigest()[:12]


def _signals_of(signals: pd.DataFrame | None, windows: list[pd.DataFrame]) -> pd.DataFrame | None:
    """The signals some window holds (each window holds those within its trades' entries)."""
    if signals is None:
        return None
    inside = np.zeros(len(signals), dtype=bool)
    for window in windows:
        held = signals_within(signals, window)
        assert held is not None
        inside |= signals.index.isin(held.index)
    return signals[inside]


def _slot(proposal: SafeProposal) -> Slot:
    return Slot(proposal.proposal.tuner, proposal.proposal.regime, proposal.proposal.parameter)


def _choices(tuning: TuningPass) -> dict[Slot, Choice]:
    """Each slot's best candidate: the capped step and the value before the cap."""
    return {_slot(p): Choice(p.candidates[0], p.direction_values[0]) for p in tuning.accepted}


def _in_sample(replay: ReplayHandle, slots: list[Slot], choices: dict[Slot, Choice]) -> list[dict[str, float]]:
    """Outcome metrics on the search window (the final pass's own replay) of the current playbook, then
    of each slot's capped step (the current value where the final pass proposed nothing)."""
    change_sets: list[list[ParameterChange]] = [[]]
    change_sets += [[change_of(s, choices[s].capped)] if s in choices else [] for s in slots]
    metrics = replay.evaluate(change_sets)
    return [{name: float(row[name]) for name in OUTCOME_METRICS} for _, row in metrics.iterrows()]


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
    record: OutOfSampleRecord,
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
    admits = slot.spec.admits_untaken if slot.spec is not None else 0
    if admits * (choice.capped - current) > 0 and not has_signals:
        way = "lower" if admits < 0 else "higher"
        return f"a {way} {slot.parameter.replace('_', ' ')} can only be validated with a signal log"
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


def _more_needed(test: Evidence, record: OutOfSampleRecord, alpha: float) -> str:
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
