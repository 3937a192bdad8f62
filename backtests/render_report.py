"""Render the HTML report of a plausible tuning session and screenshot it with headless Chromium.

Run from the repository root:
``.venv/bin/python backtests/render_report.py --out /tmp/report.html --screenshot /tmp/report.png``

The session has 3 recommendations and 2 rejections. Its equity curves are real: the embedded sample
(synthetic regime-switching market, the bot's trade log) is written to a temporary folder, and the
last 40 % of its days are replayed under the sample playbook and under each recommended change
(``replay_candidates(..., equity=True)``); the shading is the regime classifier's labels of the first
symbol, and the metrics tables are the replay's. The p-values, DSRs, trial counts and model scores are
made up, since the validation gate is not part of the report. Without a Chromium on the PATH the script
writes the HTML only and says so.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework.config import ReplaySettings, Settings
from framework.market import load_market
from framework.playbook import ParameterChange, load_playbook
from framework.quality import data_quality
from framework.regimes import classify, label_trades
from framework.replay import prepare, replay_candidates
from framework.report import EquityComparison, render_html_report
from framework.safety import risk_class
from framework.sample import write_sample
from framework.session import Session
from framework.trades import load_trades

SEED = 7
SYMBOLS = 3
DAYS = 120
OUT_OF_SAMPLE_SHARE = 0.4
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = "1280,2400"

# (regime, parameter, proposed, tuner, confidence, model, p_value, dsr, n_trials)
RECOMMENDED: tuple[tuple[str, str, float, str, float, dict[str, float] | None, float, float, int], ...] = (
    ("trending_up", "leverage", 2.6, "leverage", 0.74, {"r2": 0.182, "mae": 0.0123}, 0.004, 0.981, 40),
    ("trending_up", "confidence_threshold", 0.36, "confidence", 0.66, None, 0.021, 0.962, 25),
    ("volatile", "leverage", 2.4, "leverage", 0.81, {"r2": 0.094, "mae": 0.0191}, 0.0004, 0.993, 40),
)
REJECTED: tuple[dict[str, Any], ...] = (
    {
        "regime": "ranging",
        "parameter": "risk_reward_ratio",
        "tuner": "risk_ratio",
        "current": 3.0,
        "proposed": 2.4,
        "reason": "p-value 0.412 >= 0.05: not better than the current playbook out of sample",
    },
    {
        "regime": "trending_down",
        "parameter": "leverage",
        "tuner": "leverage",
        "current": 2.0,
        "proposed": 2.5,
        "reason": "DSR 0.71 < 0.95 after 48 trials: the best of many tries may be <b>luck</b>",
    },
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write.")
    parser.add_argument("--screenshot", type=Path, help="PNG to write with headless Chromium.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="render-report-") as folder:
        session, charts = build_session(Path(folder))
    render_html_report(Session.parse(session), charts, args.out)
    print(f"report written to {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    if args.screenshot is None:
        return
    browser = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if browser is None:
        print(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); wrote the HTML only")
        return
    screenshot(browser, args.out, args.screenshot)
    print(f"screenshot written to {args.screenshot}")


def build_session(folder: Path) -> tuple[dict[str, Any], list[EquityComparison]]:
    """The ``tune --json`` document and one chart per recommendation, from the sample's replay."""
    sample = write_sample(folder / "sample", seed=SEED, symbols=SYMBOLS, days=DAYS)
    market = load_market(sample.prices)
    trades = label_trades(load_trades(sample.trades).frame, market)
    playbook = load_playbook(sample.playbook)
    first, last = trades["entry_time"].min(), trades["exit_time"].max()
    split = first + (last - first) * (1 - OUT_OF_SAMPLE_SHARE)
    test = trades[trades["entry_time"] >= split].reset_index(drop=True)
    changes = [ParameterChange(regime, parameter, value) for regime, parameter, value, *_ in RECOMMENDED]
    candidates = [playbook, *(playbook.with_changes([change]) for change in changes)]
    settings = ReplaySettings()
    result = replay_candidates(prepare(test, market, settings), candidates, settings, equity=True)
    assert result.equity is not None
    symbol = market.symbols()[0]
    labels = classify(market.for_symbol(symbol).frame)
    labels = labels[labels.index >= result.equity.index[0] - pd.Timedelta(days=1)]

    recommendations, charts = [], []
    for k, (regime, parameter, proposed, tuner, confidence, model, p_value, dsr, n_trials) in enumerate(
        RECOMMENDED, start=1
    ):
        current = float(getattr(playbook.parameters_for(regime), parameter))
        recommendations.append(
            {
                "id": f"r{k}",
                "regime": regime,
                "parameter": parameter,
                "current": current,
                "proposed": proposed,
                "change_pct": round(100 * (proposed / current - 1), 1),
                "risk": risk_class(parameter, regime, current, proposed),
                "confidence": confidence,
                "tuner": tuner,
                "model": model,
                "validation": {
                    "accepted": True,
                    "p_value": p_value,
                    "dsr": dsr,
                    "n_trials": n_trials,
                    "baseline": _metrics(result.metrics.iloc[0]),
                    "candidate": _metrics(result.metrics.iloc[k]),
                },
            }
        )
        title = f"{regime}.{parameter} {current:g} -> {proposed:g}"
        charts.append(
            EquityComparison(
                title=f"{title} (out of sample, regimes of {symbol})",
                baseline=result.equity[0],
                candidate=result.equity[k],
                regimes=labels,
            )
        )
    quality = data_quality(trades, Settings())
    created = last.ceil("h")
    session = {
        "session_id": f"{created:%Y%m%d-%H%M}-sample",
        "created_at": created.isoformat(),
        "expires_at": (created + pd.Timedelta(hours=48)).isoformat(),
        "trades_analyzed": len(trades),
        "data_quality": {"score": quality.score, "parts": quality.parts},
        "recommendations": recommendations,
        "rejected": list(REJECTED),
    }
    return session, charts


def screenshot(browser: str, page: Path, png: Path) -> None:
    """Screenshot ``page`` into ``png`` with a headless browser that may reach no network."""
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="render-report-chromium-") as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            f"--window-size={WINDOW}", f"--screenshot={png.resolve()}", page.resolve().as_uri(),
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0 or not png.exists():
        raise SystemExit(f"{browser} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")


def _metrics(row: pd.Series) -> dict[str, float | None]:
    return {name: float(value) if math.isfinite(value) else None for name, value in row.items()}


if __name__ == "__main__":
    main()
