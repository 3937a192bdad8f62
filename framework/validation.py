"""The validation gate: a proposed change becomes a recommendation only when out-of-sample evidence,
corrected for how many candidates were tried, says it helps.

The trade log (sorted by entry) is cut into a search window and a final holdout (the last
``holdout_fraction`` of the trades, never seen by any tuner). The search window is split into anchored
walk-forward folds (:class:`framework.models.PurgedTimeSeriesSplit`: training trades whose
[entry, exit] span reaches into the test block are purged). On each fold the tuners are refit on the
training trades and their best candidate for each (tuner, block, parameter) *slot* is replayed on the
fold's test block; the final tuning pass on the whole search window gives the candidate that is
replayed on the holdout. Chaining the test blocks and the holdout gives every slot an out-of-sample
track record of the procedure that produced it, next to the current playbook's on the same trades.

Each slot is then judged on its daily log returns minus the current playbook's: leverage on log growth
itself (Sharpe hardly moves with it), every other parameter at the current playbook's volatility
(risk-adjusted: trading less of a book with no edge always grows a little more, which is no merit):

- Hansen's SPA test over all slots together against the current playbook, as a gatekeeper: when it
  finds no slot better, nothing passes; when it does, each slot must also pass its own SPA test. The
  p-value reported for a slot is the larger of the two (the joint test carries the correction for
  the number of slots, the slot's own test names the winner);
- the Deflated Sharpe Ratio of the difference series, with N = the candidates the final tuning pass
  tried for the slot (the selection being recommended; each fold's selection is already judged out of
  sample) and V = the variance of all slots' difference Sharpe ratios (a cross-sectional stand-in for
  the variance over the trials, whose out-of-sample returns are not kept);
- its out-of-sample max drawdown no worse than the current playbook's by more than
  ``max_drawdown_margin``, and no liquidation;
- enough out-of-sample trades in its block (``min_oos_trades``): thin data is an answer;
- a gain in log growth on the holdout itself, which no tuner ever saw;
- a lower confidence threshold only with a signal log (executed trades cannot show it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from framework.config import Settings
from framework.market import Market
from framework.models import PurgedTimeSeriesSplit
from framework.playbook import DEFAULT_REGIME, STRATEGY_WEIGHTS, ParameterChange, Playbook
from framework.regimes import REGIMES
from framework.replay import prepare, replay_tables, tables_for_changes
from framework.replay.engine import DEFAULT_INITIAL_EQUITY
from framework.safety import Refusal, SafeProposal
from framework.statistics import deflated_sharpe_ratio, sharpe_per_period, spa_test
from framework.tuners.base import ReplayHandle, Tuner, TuningContext
from framework.tuning import TuningPass, build_context, run_tuners, with_untaken_signals

OUTCOME_METRICS = ("total_return", "log_growth", "sharpe", "max_drawdown", "trades_taken", "liquidations")


@dataclass(frozen=True)
class Slot:
    """What a proposal changes: one parameter of one playbook block, as proposed by one tuner."""

    tuner: str
    regime: str
    parameter: str

    def describe(self) -> str:
        return f"{self.regime}.{self.parameter}"


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one final proposal. Metrics are dictionaries of ``OUTCOME_METRICS``."""

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

    @property
    def confidence(self) -> float:
        """Recommendation confidence: 1 - p."""
        return 1.0 - self.p_value


@dataclass(frozen=True)
class GateReport:
    """Everything the gate found: verdicts on the final proposals and what never reached it."""

    verdicts: tuple[Verdict, ...]
    refused: tuple[Refusal, ...]
    final_pass: TuningPass
    spa_p_value: float
    search_trades: int
    holdout_trades: int
    folds: int
    out_of_sample_by_regime: dict[str, int] = field(default_factory=dict)
    """Trades per regime in the fold test blocks and the holdout: what ``min_oos_trades`` is counted on."""

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
    still open when the holdout begins), its ``folds`` purged walk-forward folds, and the holdout."""
    gate = settings.validation
    trades = trades.sort_values("entry_time", kind="stable").reset_index(drop=True)
    cut = int(len(trades) * (1.0 - gate.holdout_fraction))
    holdout = trades.iloc[cut:]
    holdout_start = holdout["entry_time"].min() if len(holdout) else trades["exit_time"].max()
    search = trades.iloc[:cut]
    search = search[search["exit_time"] < holdout_start].reset_index(drop=True)
    splitter = PurgedTimeSeriesSplit(search["entry_time"], search["exit_time"], n_splits=gate.folds)
    return WindowPlan(search, holdout.reset_index(drop=True), tuple(splitter.split(search)))


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
    fold_values: list[dict[Slot, float]] = []
    fold_tests: list[pd.DataFrame] = []
    trials: dict[Slot, int] = {}  # of the final pass
    for k, (train, test) in enumerate(plan.folds, start=1):
        train_trades = search.iloc[train]
        where = f"fold {k} of {len(plan.folds)}, {len(train_trades)} training trades"
        if k == 1:
            where += " (the first run also compiles the kernels, about 30 s, cached after)"
        fold_pass, _ = _tuning_pass(
            train_trades, market, playbook, settings, tuners, signals, seed, safety, _named(progress, where)
        )
        fold_values.append(_best_values(fold_pass, {}))
        fold_tests.append(search.iloc[test])
    final_pass, final_context = _tuning_pass(
        search, market, playbook, settings, tuners, signals, seed, safety,
        _named(progress, f"final pass on the search window, {len(search)} trades"),
    )  # fmt: skip
    final_values = _best_values(final_pass, trials)
    final = {_slot(p): p for p in final_pass.accepted}
    if not final or holdout.empty:
        return GateReport((), final_pass.refused, final_pass, 1.0, len(search), len(holdout), gate.folds, oos_by_regime)

    progress(f"replaying {len(final)} proposals out of sample and judging them")
    slots = list(final)
    blocks = [*zip(fold_tests, fold_values, strict=True), (holdout, final_values)]
    returns, outcomes, equity, holdout_days, per_trade = _out_of_sample(
        blocks, slots, market, playbook, settings, signals
    )
    in_sample = _in_sample(final_context.replay, slots, final_values)
    base_log = np.log1p(returns[:, 0])
    judged = np.column_stack([_judged_returns(slot, returns[:, k + 1], returns[:, 0]) for k, slot in enumerate(slots)])
    differences = judged - base_log[:, None]
    holdout_gains = differences[-holdout_days:].sum(axis=0)
    spa_all = _spa(base_log, judged, gate.spa_reps, seed)
    single = [_spa(base_log, judged[:, [k]], gate.spa_reps, seed) for k in range(len(slots))]
    adjusted = [max(spa_all, p) for p in single]
    sharpes = [_difference_sharpe(differences[:, k]) for k in range(len(slots))]
    finite = [s for s in sharpes if math.isfinite(s)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    oos_trades = pd.concat([block for block, _ in blocks])

    verdicts = []
    for k, slot in enumerate(slots):
        n_trials = max(trials.get(slot, 1), 1)
        dsr = _dsr(differences[:, k], n_trials, variance)
        scope = _scope_count(oos_trades, slot)
        baseline_out, candidate_out = outcomes[0], outcomes[k + 1]
        holdout_gain = float(holdout_gains[k])
        reason = _judge(
            slot, final[slot], final_values[slot], adjusted[k], dsr, n_trials, scope, baseline_out,
            candidate_out, holdout_gain, settings, signals is not None,
        )  # fmt: skip
        verdicts.append(
            Verdict(
                slot=slot,
                proposal=final[slot],
                value=final_values[slot],
                accepted=reason is None,
                reason=reason or "validated out of sample",
                p_value=adjusted[k],
                dsr=dsr,
                n_trials=n_trials,
                oos_trades=scope,
                baseline_in=in_sample[0],
                candidate_in=in_sample[k + 1],
                baseline_out=baseline_out,
                candidate_out=candidate_out,
                baseline_equity=equity[0],
                candidate_equity=equity[k + 1],
                own_trades=_own_trades(slot, per_trade[0], per_trade[k + 1]),
            )
        )
    return GateReport(
        tuple(verdicts), final_pass.refused, final_pass, spa_all, len(search), len(holdout), gate.folds, oos_by_regime
    )


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


def _best_values(tuning: TuningPass, trials: dict[Slot, int]) -> dict[Slot, float]:
    """Each slot's best candidate; every candidate tried counts as a trial of its slot."""
    values = {}
    for proposal in tuning.accepted:
        slot = _slot(proposal)
        values[slot] = proposal.candidates[0]
        trials[slot] = trials.get(slot, 0) + max(proposal.proposal.n_trials, len(proposal.candidates))
    return values


def _change(slot: Slot, value: float) -> ParameterChange:
    return ParameterChange(slot.regime, slot.parameter, value)


def _out_of_sample(
    blocks: list[tuple[pd.DataFrame, dict[Slot, float]]],
    slots: list[Slot],
    market: Market,
    playbook: Playbook,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> tuple[np.ndarray, list[dict[str, float]], pd.DataFrame, int, list[pd.DataFrame]]:
    """Daily returns (days x 1 + slots; column 0 the current playbook) over the chained blocks, the
    chained outcome metrics, the chained equity at each UTC day end (each block starting from the
    last one's end; a day two blocks share appears twice), the number of days of the last block, and
    per column the per-trade outcomes of every replayed trade (``regime``, ``strategy``, ``taken``,
    ``return``, ``pnl``)."""
    returns: list[np.ndarray] = []
    days: list[pd.DatetimeIndex] = []
    counts = np.zeros((len(slots) + 1, 2))  # trades taken, liquidations
    per_trade: list[list[pd.DataFrame]] = [[] for _ in range(len(slots) + 1)]
    for block, values in blocks:
        if block.empty:
            continue
        daily, index, metrics, outcomes = _replay_block(block, values, slots, market, playbook, settings, signals)
        previous = np.vstack([np.full((1, daily.shape[1]), DEFAULT_INITIAL_EQUITY), daily[:-1]])
        returns.append(daily / previous - 1.0)
        days.append(index)
        counts += metrics[["trades_taken", "liquidations"]].to_numpy()
        for column, frame in zip(per_trade, outcomes, strict=True):
            column.append(frame)
    stacked = np.vstack(returns)
    index = days[0].append(days[1:]) if len(days) > 1 else days[0]
    equity = pd.DataFrame(DEFAULT_INITIAL_EQUITY * np.cumprod(1.0 + stacked, axis=0), index=index)
    outcomes = [_outcome(stacked[:, k], counts[k]) for k in range(stacked.shape[1])]
    trades = [pd.concat(frames, ignore_index=True) for frames in per_trade]
    return stacked, outcomes, equity, len(days[-1]), trades


def _replay_block(
    block: pd.DataFrame,
    values: dict[Slot, float],
    slots: list[Slot],
    market: Market,
    playbook: Playbook,
    settings: Settings,
    signals: pd.DataFrame | None,
) -> tuple[np.ndarray, pd.DatetimeIndex, pd.DataFrame, list[pd.DataFrame]]:
    """Daily equity (days x 1 + slots), its day ends, the metrics and the per-trade outcomes of one
    block's replay; column 0 is the current playbook, a slot without a value in ``values`` keeps the
    current one."""
    replayed = with_untaken_signals(block, _signals_within(signals, block), market, playbook)
    inputs = prepare(replayed, market, settings.replay)
    change_sets: list[list[ParameterChange]] = [[]]
    change_sets += [[_change(s, values[s])] if s in values else [] for s in slots]
    tables = tables_for_changes(inputs, playbook, change_sets)
    result = replay_tables(inputs, tables, settings.replay, equity=True, per_trade=True)
    assert result.equity is not None
    labels = replayed[["regime", "strategy"]].reset_index(drop=True)
    outcomes = [
        pd.concat([labels, result.trades(k)[["taken", "return", "pnl"]]], axis=1) for k in range(len(change_sets))
    ]
    return result.equity.to_numpy(), pd.DatetimeIndex(result.equity.index), result.metrics, outcomes


def _own_trades(slot: Slot, baseline: pd.DataFrame, candidate: pd.DataFrame) -> dict[str, object]:
    """The change's own out-of-sample trades, before and after: see :attr:`Verdict.own_trades`."""
    if slot.regime == STRATEGY_WEIGHTS:
        scope, where = baseline["strategy"] == slot.parameter, f"{slot.parameter} trades"
    elif slot.regime == DEFAULT_REGIME:
        scope, where = pd.Series(True, index=baseline.index), "all trades"
    else:
        scope, where = baseline["regime"] == slot.regime, f"{slot.regime} trades"

    def summary(frame: pd.DataFrame) -> dict[str, float | int | None]:
        taken = frame[scope & frame["taken"].astype(bool)]
        if taken.empty:
            return {"taken": 0, "win_rate": None, "mean_return": None, "pnl": None}
        return {
            "taken": len(taken),
            "win_rate": float((taken["return"] > 0).mean()),
            "mean_return": float(taken["return"].mean()),
            "pnl": float(taken["pnl"].sum()),
        }

    return {"scope": where, "trades": int(scope.sum()), "baseline": summary(baseline), "candidate": summary(candidate)}


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


def _in_sample(replay: ReplayHandle, slots: list[Slot], values: dict[Slot, float]) -> list[dict[str, float]]:
    """Outcome metrics on the search window (the final pass's own replay): current playbook first."""
    change_sets: list[list[ParameterChange]] = [[]]
    change_sets += [[_change(s, values[s])] for s in slots]
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


def _spa(baseline: np.ndarray, candidates: np.ndarray, reps: int, seed: int) -> float:
    try:
        return spa_test(baseline, candidates, reps=reps, seed=seed).pvalue
    except ValueError:
        return 1.0  # too few periods, or a difference that never varies: no evidence either way


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
    value: float,
    p_value: float,
    dsr: float,
    n_trials: int,
    oos_trades: int,
    baseline: dict[str, float],
    candidate: dict[str, float],
    holdout_gain: float,
    settings: Settings,
    has_signals: bool,
) -> str | None:
    """The first reason to reject, or None to accept."""
    gate = settings.validation
    where = slot.parameter if slot.regime == STRATEGY_WEIGHTS else slot.regime
    if oos_trades < gate.min_oos_trades:
        need = gate.min_oos_trades
        return f"not enough trades in {where} out of sample (n={oos_trades}, need {need}: min_oos_trades)"
    if slot.parameter == "confidence_threshold" and value < proposal.proposal.current and not has_signals:
        return "a lower confidence threshold can only be validated with a signal log"
    if candidate["liquidations"] > 0:
        return f"liquidated {candidate['liquidations']:.0f} times out of sample"
    if candidate["max_drawdown"] < baseline["max_drawdown"] - gate.max_drawdown_margin:
        return (
            f"out-of-sample max drawdown {candidate['max_drawdown']:.1%} is worse than the current "
            f"{baseline['max_drawdown']:.1%} by more than {gate.max_drawdown_margin:.0%}"
        )
    if holdout_gain <= 0:
        return f"no gain on the holdout no tuner saw ({holdout_gain:+.4f} in log growth against the current playbook)"
    if p_value >= gate.alpha:
        measure = "in log growth" if slot.parameter == "leverage" else "at equal volatility"
        return f"no significant out-of-sample improvement {measure} (p={p_value:.3f}, need < {gate.alpha})"
    if dsr < gate.min_dsr:
        return f"deflated Sharpe ratio {dsr:.2f} after {n_trials} trials (need {gate.min_dsr})"
    return None
