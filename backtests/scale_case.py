"""The scale case of issue 15: a year of 1-minute candles on ten symbols and 50,000 trades, written in
freqtrade's layout to a folder, seeded.

Run from the repository root: ``.venv/bin/python backtests/scale_case.py FOLDER [--symbols 10]
[--days 365] [--trades 50000] [--seed 15]``; it prints the paths as one JSON object. ``bench_tune.py``
calls :func:`write_scale_case`.

The candles come from the embedded sample's generator (:func:`framework.sample.generate_candles`, its
regime-switching dynamics per 1-minute bar). The trades are not the sample bot's (its per-signal loop
is far too slow at 5 M bars): per symbol and strategy, non-overlapping holds are drawn (a geometric
hold of ``MEAN_HOLD_BARS`` bars ending on a signal exit, random gaps between trades, a random side, a
confidence above every threshold), then replayed under the sample playbook, whose stops, targets and
``max_hold`` end some of them earlier, exactly as the replay would: replaying the log under its own
playbook gives back the logged exits. The log has no ``min_rate``/``max_rate`` (so excursions come from
the candles) and no signal log, as a bot keeping only its trade database would have.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from framework.config import ReplaySettings
from framework.market import load_market, write_candles
from framework.playbook import Playbook, parse_playbook
from framework.regimes import label_trades
from framework.replay import prepare, replay_candidates
from framework.sample import SAMPLE_PLAYBOOK, SAMPLE_STRATEGIES, generate_candles
from framework.trades import validate_trades, write_log

SCALE_TIMEFRAME = "1m"
MEAN_HOLD_BARS = 120  # two hours of 1-minute bars
LONGEST_HOLD_BARS = 2 * 1440  # the sample playbook's max_hold (48 h) ends longer trades anyway


@dataclass(frozen=True)
class ScaleCase:
    """Paths of a written scale case and its size."""

    directory: Path
    prices: Path
    trades: Path
    playbook: Path
    symbols: int
    bars: int
    trade_count: int


def write_scale_case(
    directory: Path, *, symbols: int = 10, days: int = 365, trades: int = 50_000, seed: int = 15
) -> ScaleCase:
    """Write ``symbols`` x ``days`` of 1-minute candles (``prices/<SYMBOL>_USDT-1m.feather``),
    ``trades.csv`` (``trades`` trades, spread evenly over the symbols and the sample's two strategies)
    and ``playbook.yaml`` (the sample playbook) under ``directory``, then ``case.json`` (the
    :class:`ScaleCase`). Deterministic per arguments; a folder with its ``case.json`` is reused as it is."""
    if symbols < 1 or days < 3 or trades < 2 * symbols:
        raise ValueError("need at least 1 symbol, 3 days and 2 trades per symbol")
    written = directory / "case.json"
    if written.exists():
        fields = json.loads(written.read_text(encoding="utf-8"))
        return ScaleCase(**{k: Path(v) if isinstance(v, str) else v for k, v in fields.items()})
    rng = np.random.default_rng(seed)
    prices = directory / "prices"
    prices.mkdir(parents=True, exist_ok=True)
    bars = days * 1440
    per_stream = np.full(symbols * len(SAMPLE_STRATEGIES), trades // (symbols * len(SAMPLE_STRATEGIES)))
    per_stream[: trades % len(per_stream)] += 1
    rows = []
    for k in range(symbols):
        symbol = f"S{k:02d}/USDT"
        frame, _ = generate_candles(rng, bars, structure=True, timeframe=SCALE_TIMEFRAME)
        write_candles(frame, prices, symbol, SCALE_TIMEFRAME)
        for j, strategy in enumerate(SAMPLE_STRATEGIES):
            rows.append(_stream(rng, frame, symbol, strategy, int(per_stream[k * len(SAMPLE_STRATEGIES) + j])))
    log = pd.concat(rows, ignore_index=True).sort_values(["entry_time", "trade_id"], ignore_index=True)
    playbook = parse_playbook(SAMPLE_PLAYBOOK, source="sample playbook")
    log = _with_replayed_exits(log, prices, playbook)
    paths = ScaleCase(directory, prices, directory / "trades.csv", directory / "playbook.yaml", symbols, bars, len(log))
    write_log(validate_trades(log, source="scale trades").frame, paths.trades)
    paths.playbook.write_text(playbook.text, encoding="utf-8")
    written.write_text(json.dumps(_fields(paths)), encoding="utf-8")
    return paths


def _fields(case: ScaleCase) -> dict[str, object]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(case).items()}


def _stream(rng: np.random.Generator, frame: pd.DataFrame, symbol: str, strategy: str, count: int) -> pd.DataFrame:
    """``count`` non-overlapping trades of one strategy on one symbol, each exiting on a signal."""
    bars = len(frame)
    holds = np.minimum(rng.geometric(1.0 / MEAN_HOLD_BARS, size=count), LONGEST_HOLD_BARS)
    room = bars - 2 - int(holds.sum()) - count  # bars left for the gaps beyond one bar each
    if room < count:
        raise ValueError(f"{count} trades of {MEAN_HOLD_BARS} bars on average do not fit in {bars} bars")
    cuts = np.sort(rng.choice(room, size=count, replace=False))
    gaps = np.diff(cuts, prepend=0) + 1
    entry_bar = np.cumsum(gaps) + np.concatenate([[0], np.cumsum(holds)[:-1]])
    exit_bar = entry_bar + holds - 1  # the signal exit fills at the next bar's open, this bar's close
    times = frame.index
    step = pd.Timedelta(SCALE_TIMEFRAME)
    opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
    base = symbol.split("/")[0]
    return pd.DataFrame(
        {
            "trade_id": [f"{base}-{strategy}-{i}" for i in range(count)],
            "symbol": symbol,
            "side": np.where(rng.random(count) < 0.5, "long", "short"),
            "entry_time": times[entry_bar],
            "entry_price": opens[entry_bar],
            "exit_time": times[exit_bar] + step,
            "exit_price": closes[exit_bar],
            "confidence": rng.uniform(0.5, 1.0, size=count),
            "strategy": strategy,
            "exit_reason": "exit_signal",
            "timeframe": SCALE_TIMEFRAME,
        }
    )


def _with_replayed_exits(log: pd.DataFrame, prices: Path, playbook: Playbook) -> pd.DataFrame:
    """The log labelled with each trade's regime at entry, and its exit, leverage, stake and pnl as the
    replay finds them under ``playbook``; trades still open at the data's end are dropped, as a bot's
    log holds closed trades only."""
    settings = ReplaySettings()
    market = load_market(prices)
    log = label_trades(log, market)
    replayed = replay_candidates(prepare(log, market, settings), [playbook], settings, per_trade=True).trades(0)
    log = log.assign(
        exit_time=replayed["exit_time"].to_numpy(),
        exit_price=replayed["exit_price"].to_numpy(),
        exit_reason=replayed["exit_reason"].to_numpy(),
        stake=replayed["margin"].to_numpy(),
        pnl=replayed["pnl"].to_numpy(),
        leverage=[playbook.parameters_for(None if pd.isna(r) else r).leverage for r in log["regime"]],
    )
    return log[replayed["taken"].to_numpy() & (log["exit_reason"] != "end_of_data")].reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    case = write_scale_case(args.folder, symbols=args.symbols, days=args.days, trades=args.trades, seed=args.seed)
    json.dump(_fields(case), sys.stdout)
    print()


if __name__ == "__main__":
    main()
