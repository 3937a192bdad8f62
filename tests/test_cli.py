"""The playbook-tuner command, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from framework.config import Settings

COMMAND = Path(sys.executable).parent / "playbook-tuner"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "sample"
    result = run("sample", "--out", out, "--days", "20", "--symbols", "2")
    assert result.returncode == 0, result.stderr
    assert "trades in trades.csv" in result.stdout
    return out


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("config", "import-freqtrade", "regimes", "sample", "check"):
        assert command in result.stdout


def test_config_prints_the_effective_settings_as_toml(tmp_path: Path) -> None:
    result = run("config")
    assert result.returncode == 0, result.stderr
    assert Settings.model_validate(tomllib.loads(result.stdout)) == Settings()
    mine = tmp_path / "mine.toml"
    mine.write_text("lookback_days = 10\n")
    assert tomllib.loads(run("config", "--config", mine).stdout)["lookback_days"] == 10


def test_sample_then_check_and_regimes(sample_dir: Path) -> None:
    check = run(
        "check",
        "--trades", sample_dir / "trades.csv",
        "--signals", sample_dir / "signals.csv",
        "--prices", sample_dir / "prices",
        "--playbook", sample_dir / "playbook.yaml",
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "rows valid" in check.stdout
    assert "trades per regime at entry" in check.stdout
    assert "playbook" in check.stdout and "valid" in check.stdout
    regimes = run("regimes", "--prices", sample_dir / "prices")
    assert regimes.returncode == 0, regimes.stderr
    assert "ALPHA/USDT" in regimes.stdout and "BRAVO/USDT" in regimes.stdout


def test_bad_trade_log_fails_with_file_row_and_field(tmp_path: Path, sample_dir: Path) -> None:
    frame = pd.read_csv(sample_dir / "trades.csv")
    frame.loc[4, "entry_price"] = -3.0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    strict = run("check", "--trades", bad)
    assert strict.returncode == 2
    assert "bad.csv" in strict.stderr and "row 5" in strict.stderr and "entry_price" in strict.stderr
    assert "Traceback" not in strict.stderr
    lenient = run("check", "--trades", bad, "--lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert f"{len(frame) - 1} rows valid" in lenient.stdout
    assert "dropped" in lenient.stderr and "row 5" in lenient.stderr


def test_broken_playbook_names_the_key(tmp_path: Path, sample_dir: Path) -> None:
    text = (sample_dir / "playbook.yaml").read_text().replace("leverage: 3.0", "leverage: -3.0")
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    result = run("check", "--playbook", path)
    assert result.returncode == 2
    assert "regimes.volatile.leverage" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.shared_data
def test_import_freqtrade_backtest_export(tmp_path: Path, freqtrade_data: Path) -> None:
    out = tmp_path / "trades.csv"
    result = run("import-freqtrade", freqtrade_data / "backtest_results" / "backtest-result.json", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "imported 179 trades" in result.stdout
    assert "confidence" in result.stderr  # the warning about the constant confidence
    assert len(pd.read_csv(out)) == 179
    check = run("check", "--trades", out, "--prices", freqtrade_data)
    assert check.returncode == 0, check.stderr
    assert "179 rows valid" in check.stdout


@pytest.mark.shared_data
def test_regimes_on_real_candles(freqtrade_data: Path) -> None:
    result = run("regimes", "--prices", freqtrade_data)
    assert result.returncode == 0, result.stderr
    for pair in ("ETH/BTC", "ADA/BTC", "ZEC/BTC"):
        assert pair in result.stdout


def test_replay_prints_metrics_and_writes_outcomes(tmp_path: Path, sample_dir: Path) -> None:
    out, metrics = tmp_path / "outcomes.csv", tmp_path / "metrics.json"
    result = run(
        "replay",
        "--trades", sample_dir / "trades.csv",
        "--prices", sample_dir / "prices",
        "--playbook", sample_dir / "playbook.yaml",
        "--out", out,
        "--json", metrics,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sharpe" in result.stdout and "sqrt(365)" in result.stdout
    outcomes = pd.read_csv(out)
    logged = pd.read_csv(sample_dir / "trades.csv")
    assert len(outcomes) == len(logged)
    assert list(outcomes.columns[:6]) == [
        "trade_id",
        "taken",
        "exit_time",
        "exit_price",
        "exit_reason",
        "return",
    ]
    document = json.loads(metrics.read_text())
    assert document["metrics"]["trades_taken"] == len(logged)
    # the sample's own playbook gives back the bot's own profit
    expected = logged["pnl"].sum() / document["initial_equity"]
    assert document["metrics"]["total_return"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.shared_data
def test_replay_on_real_freqtrade_trades(
    tmp_path: Path, freqtrade_data: Path, real_trade_log: tuple[Path, Path]
) -> None:
    trades, playbook = real_trade_log
    metrics = tmp_path / "metrics.json"
    result = run("replay", "--trades", trades, "--prices", freqtrade_data, "--playbook", playbook, "--json", metrics)
    assert result.returncode == 0, result.stderr
    assert json.loads(metrics.read_text())["metrics"]["trades_taken"] == 179


def test_propose_runs_every_tuner_on_the_embedded_sample(tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[tuner_options]\nrisk_ratio = {trials = 10}\n")
    result = subprocess.run(
        [str(COMMAND), "propose", "--config", str(config), "--models", str(tmp_path / "models")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PLAYBOOK_TUNER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert "using the embedded sample" in result.stdout
    assert (tmp_path / "cache" / "sample-7" / "trades.csv").exists()
    for tuner in ("leverage", "risk_ratio", "confidence_threshold", "strategy_weights"):
        assert tuner in result.stdout
    assert "data quality" in result.stdout and "not yet validated" in result.stdout
    assert "model saved:" in result.stdout
    assert (tmp_path / "models" / "leverage-efficiency-v1.joblib").exists()


def test_propose_refuses_two_signal_sources(tmp_path: Path, sample_dir: Path) -> None:
    result = run(
        "propose",
        "--trades", sample_dir / "trades.csv",
        "--prices", sample_dir / "prices",
        "--playbook", sample_dir / "playbook.yaml",
        "--signals", sample_dir / "signals.csv",
        "--regenerate-signals", "momentum",
    )  # fmt: skip
    assert result.returncode == 2
    assert "either --signals or --regenerate-signals" in result.stderr
