"""Charts and the HTML report of a tuning session: sizes, colours, drawdowns, self-containment, escaping."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib import dates as mdates
from matplotlib import image as mimage
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba

from framework.errors import PlaybookTunerError
from framework.pipeline import daily_regimes
from framework.regimes import REGIMES
from framework.report import (
    REGIME_COLOURS,
    EquityComparison,
    drawdown,
    equity_chart_png,
    equity_figure,
    render_html_report,
)
from framework.session import Session

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DAYS = pd.date_range("2026-03-01", periods=40, freq="D", tz="UTC", name="day_end")


def _comparison(title: str = "ranging.leverage 2 -> 2.6 (out of sample)", seed: int = 0) -> EquityComparison:
    rng = np.random.default_rng(seed)
    baseline = pd.Series(10_000 * np.exp(np.cumsum(rng.normal(0.002, 0.02, len(DAYS)))), index=DAYS)
    candidate = baseline * np.exp(np.cumsum(rng.normal(0.001, 0.01, len(DAYS))))
    hours = pd.date_range(DAYS[0] - pd.Timedelta(days=1), DAYS[-1], freq="h", tz="UTC")
    codes = (np.arange(len(hours)) // 72) % len(REGIMES)  # 3-day runs cycling through every regime
    regimes = pd.Series(pd.Categorical.from_codes(codes, categories=list(REGIMES)), index=hours)
    return EquityComparison(title=title, baseline=baseline, candidate=candidate, regimes=regimes)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize(("width", "height"), [(1000, 600), (777, 433)])
def test_chart_is_a_png_of_the_requested_size(width: int, height: int) -> None:
    png = equity_chart_png(_comparison(), width_px=width, height_px=height)
    assert _png_size(png) == (width, height)
    pixels = mimage.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_shading_draws_one_collection_per_regime_in_its_colour() -> None:
    comparison = _comparison()
    figure = equity_figure(comparison)
    equity_axes = figure.axes[0]
    shading = [c for c in equity_axes.collections if isinstance(c, PolyCollection)]
    assert sorted(c.get_label() for c in shading) == sorted(REGIMES)
    for collection in shading:
        expected = to_rgba(REGIME_COLOURS[collection.get_label()])
        assert np.allclose(collection.get_facecolor()[0], expected)
        assert 0 < expected[3] < 0.5  # soft: the curves stay readable over it


def test_shaded_pixels_have_the_regime_colour_over_white() -> None:
    comparison = _comparison()
    width, height = 1000, 600
    figure = equity_figure(comparison, width_px=width, height_px=height)
    png = equity_chart_png(comparison, width_px=width, height_px=height)
    pixels = mimage.imread(io.BytesIO(png), format="png")[..., :3]
    equity_axes = figure.axes[0]
    figure.canvas.draw()  # fixes the layout the PNG was saved with
    # Hourly labels from 2026-02-28 in 3-day runs: 2026-03-04 12:00 lies in the second, trending_down.
    x = mdates.date2num(np.datetime64("2026-03-04T12:00"))
    px, _ = equity_axes.transData.transform((x, equity_axes.get_ylim()[0]))
    _, top = equity_axes.transAxes.transform((0, 0.93))
    row, column = round(float(height - top)), round(float(px))
    patch = pixels[row - 2 : row + 3, column - 2 : column + 3].reshape(-1, 3)
    red, green, blue, alpha = to_rgba(REGIME_COLOURS["trending_down"])
    expected = np.array([red, green, blue]) * alpha + (1 - alpha)
    assert np.abs(np.median(patch, axis=0) - expected).max() < 3 / 255


def test_missing_regime_labels_leave_no_shading() -> None:
    comparison = _comparison()
    assert comparison.regimes is not None
    regimes = comparison.regimes.astype("str").where(comparison.regimes.index >= DAYS[20])
    figure = equity_figure(EquityComparison("x", comparison.baseline, comparison.candidate, regimes=regimes))
    starts = [
        path.vertices[:, 0].min()
        for collection in figure.axes[0].collections
        if isinstance(collection, PolyCollection)
        for path in collection.get_paths()
    ]
    assert min(starts) == pytest.approx(mdates.date2num(DAYS[20].tz_localize(None).to_datetime64()))


def test_drawdown_is_never_above_zero() -> None:
    comparison = _comparison(seed=3)
    for series in (comparison.baseline, comparison.candidate):
        values = drawdown(series).to_numpy()
        assert (values <= 0).all()
        at_peak = series.to_numpy() == series.cummax().to_numpy()
        assert (values[at_peak] == 0).all() and (values[~at_peak] < 0).all()
    drawdown_axes = equity_figure(comparison).axes[1]
    assert drawdown_axes.get_ylim()[1] == 0
    assert drawdown_axes.lines and all((line.get_ydata() <= 0).all() for line in drawdown_axes.lines)
    assert min(line.get_ydata().min() for line in drawdown_axes.lines) < -0.01


def test_comparison_rejects_bad_series() -> None:
    good = _comparison()
    with pytest.raises(ValueError, match="share one index"):
        EquityComparison("x", good.baseline, good.candidate.iloc[1:])
    with pytest.raises(ValueError, match="finite"):
        EquityComparison("x", good.baseline.where(good.baseline.index != DAYS[5]), good.candidate)
    with pytest.raises(ValueError, match="labels outside"):
        EquityComparison("x", good.baseline, good.candidate, pd.Series("sideways", index=DAYS))


RATIONALE = "ranging: win rate 50%, volatility rank 0.45 -> look up; leverage 2.6 replays to log growth 0.82 vs 0.74"
OWN_TRADES = {
    "scope": "ranging trades",
    "trades": 1312,
    "baseline": {"taken": 1212, "win_rate": 0.5189, "mean_return": 0.0042, "pnl": 1234.5},
    "candidate": {"taken": 1180, "win_rate": None, "mean_return": -0.0061, "pnl": -87.25},
}


def _session(reason: str = "p-value 0.41 >= 0.05 <b>not better</b> & worse") -> dict[str, Any]:
    """A ``tune --json`` document of the current shape: rationales, and ``own_trades`` on the first change."""
    metrics = {"total_return": 0.12, "max_drawdown": -0.08, "sharpe": 1.4, "trades_taken": 120.0}

    def recommendation(identifier: str, risk: str, model: dict[str, float] | None) -> dict[str, Any]:
        return {
            "id": identifier,
            "regime": "ranging",
            "parameter": "leverage",
            "current": 2.0,
            "proposed": 2.6,
            "change_pct": 30.0,
            "risk": risk,
            "confidence": 0.72,
            "tuner": "leverage",
            "rationale": f"{RATIONALE} ({identifier})",
            "model": model,
            "validation": {
                "accepted": True,
                "p_value": 0.0004,
                "dsr": 0.97,
                "n_trials": 40,
                "baseline": metrics,
                "candidate": {**metrics, "total_return": 0.19, "sharpe": None},
            },
        }

    return {
        "session_id": "s-2026-05-01",
        "created_at": "2026-05-01T12:00:00+00:00",
        "expires_at": "2026-05-03T12:00:00+00:00",
        "trades_analyzed": 1234,
        "data_quality": {"score": 81.5, "parts": {"completeness": 90.0, "trade_count": 73.0}},
        "recommendations": [
            _with_own_trades(recommendation("rec<1>", "high", {"r2": 0.21, "mae": 0.013})),
            recommendation("rec-2", "low", None),
        ],
        "rejected": [
            {"regime": "volatile", "parameter": "stop_loss", "tuner": "risk_ratio", "reason": reason},
            {"regime": "trending_up", "parameter": "max_hold", "tuner": "x", "reason": "DSR 0.6 < 0.95"},
        ],
    }


def _with_own_trades(recommendation: dict[str, Any]) -> dict[str, Any]:
    return {**recommendation, "validation": {**recommendation["validation"], "own_trades": OWN_TRADES}}


def _old_session() -> dict[str, Any]:
    """A document stored before rationales and own-trade metrics were rendered: neither key is there."""
    session = _session()
    for rec in session["recommendations"]:
        del rec["rationale"]
        rec["validation"].pop("own_trades", None)
    return session


def _cards(text: str) -> dict[str, str]:
    """The HTML of each change's card, by its anchor."""
    return dict(re.findall(r'<section class="card" id="rec-([^"]+)">(.*?)</section>', text, flags=re.S))


def test_html_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    charts = [_comparison('title with "quotes" <i>'), _comparison(seed=1)]
    render_html_report(Session.parse(_session()), charts, path)
    text = path.read_text(encoding="utf-8")
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert forbidden not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == text.count("data:image/png;base64,") == len(charts)
    assert all(base64.b64decode(image)[:8] == PNG_SIGNATURE for image in images)
    assert "rec&lt;1&gt;" in text and "rec<1>" not in text
    assert "rec-2" in text
    assert "&lt;b&gt;not better&lt;/b&gt; &amp; worse" in text and "<b>" not in text
    assert "DSR 0.6 &lt; 0.95" in text
    assert "title with &quot;quotes&quot; &lt;i&gt;" in text and "<i>" not in text
    assert "🔴" in text and "🟢" in text
    assert "< 0.001" not in text and "&lt; 0.001" in text  # the p-value, escaped
    assert "2026-05-01 12:00 UTC" in text and "1,234 trades" in text
    assert "12.00 %" in text and "19.00 %" in text and "-8.00 %" in text  # fractions shown as percent
    assert "0.21 / 0.0130" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


def test_html_report_replaces_the_file_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("old report", encoding="utf-8")

    def refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        render_html_report(Session.parse(_session()), [_comparison(), _comparison()], path)
    assert path.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_html_report_refuses_a_mismatch_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    with pytest.raises(ValueError, match="2 recommendations"):
        render_html_report(Session.parse(_session()), [_comparison()], path)
    broken = _session()
    del broken["recommendations"][1]["risk"]
    with pytest.raises(ValueError, match=r"recommendations\.1\.risk"):
        render_html_report(Session.parse(broken), [_comparison(), _comparison()], path)
    with pytest.raises(PlaybookTunerError, match="does not exist"):
        render_html_report(Session.parse(_session()), [_comparison(), _comparison()], tmp_path / "missing" / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_html_report_without_recommendations_or_rejections(tmp_path: Path) -> None:
    session = {**_session(), "recommendations": [], "rejected": []}
    path = tmp_path / "report.html"
    render_html_report(Session.parse(session), [], path)
    text = path.read_text(encoding="utf-8")
    assert "No change passed validation." in text
    assert "data:image/png" not in text


def test_html_report_shows_each_changes_rationale_risk_word_and_apply_command(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    render_html_report(Session.parse(_session()), [_comparison(), _comparison(seed=1)], path)
    text = path.read_text(encoding="utf-8")
    cards = _cards(text)
    assert list(cards) == ["rec-1-", "rec-2"]
    escaped = RATIONALE.replace("->", "-&gt;")
    assert f"{escaped} (rec&lt;1&gt;)" in cards["rec-1-"] and f"{escaped} (rec-2)" in cards["rec-2"]
    # The item id is quoted for the shell, then escaped for HTML.
    assert "playbook-tuner apply s-2026-05-01 --items &#x27;rec&lt;1&gt;&#x27;</code>" in cards["rec-1-"]
    assert "playbook-tuner apply s-2026-05-01 --items rec-2</code>" in cards["rec-2"]
    assert '<span class="risk risk-high">high risk</span>' in cards["rec-1-"]
    assert '<span class="risk risk-low">low risk</span>' in cards["rec-2"]
    table = text[text.index("<h2>Recommendations") : text.index("<h2>Apply")]
    assert '<span class="risk risk-high">high</span>' in table and '<span class="risk risk-low">low</span>' in table
    apply = text[text.index("<h2>Apply") : text.index('<section class="card" id="rec-')]
    assert '<code class="command">playbook-tuner apply s-2026-05-01</code>' in apply
    assert "low-risk changes (rec-2): <code" in apply
    assert "playbook-tuner apply s-2026-05-01 --safe-only</code>" in apply
    assert "playbook-tuner reject s-2026-05-01</code>" in apply
    assert "before 2026-05-03 12:00 UTC" in apply


def test_html_report_offers_no_safe_only_command_without_low_risk_changes(tmp_path: Path) -> None:
    session = _session()
    session["recommendations"][1]["risk"] = "medium"
    path = tmp_path / "report.html"
    render_html_report(Session.parse(session), [_comparison(), _comparison()], path)
    text = path.read_text(encoding="utf-8")
    assert "--safe-only" not in text
    assert '<code class="command">playbook-tuner apply s-2026-05-01</code>' in text
    assert '<span class="risk risk-medium">medium risk</span>' in _cards(text)["rec-2"]


def test_html_report_shows_a_changes_own_trades_beside_the_portfolio(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    render_html_report(Session.parse(_session()), [_comparison(), _comparison()], path)
    cards = _cards(path.read_text(encoding="utf-8"))
    own = cards["rec-1-"]
    assert "portfolio, out of sample" in own
    assert "<caption>ranging trades: 1,312 out of sample</caption>" in own
    for name, before, after in [
        ("trades taken", "1,212", "1,180"),
        ("win rate", "51.89 %", "–"),
        ("mean return per trade (on margin)", "+0.42 %", "-0.61 %"),
        ("pnl (quote currency)", "+1,234.50", "-87.25"),
    ]:
        assert f'<tr><td>{name}</td><td class="num">{before}</td><td class="num">{after}</td></tr>' in own
    assert own.index("portfolio, out of sample") < own.index("its own trades")
    assert "its own trades" not in cards["rec-2"]  # only the first change carries them
    assert "portfolio, out of sample" in cards["rec-2"]


def test_html_report_of_an_older_session_without_rationale_or_own_trades(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    render_html_report(Session.parse(_old_session()), [_comparison(), _comparison()], path)
    text = path.read_text(encoding="utf-8")
    assert "its own trades" not in text and "Why:" not in text
    assert "playbook-tuner apply s-2026-05-01 --items rec-2</code>" in text
    assert "12.00 %" in text and "19.00 %" in text  # the portfolio metrics are still there
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 2


def test_html_report_names_a_malformed_own_trades_field(tmp_path: Path) -> None:
    session = _session()
    del session["recommendations"][0]["validation"]["own_trades"]["candidate"]["taken"]
    with pytest.raises(ValueError, match=r"recommendations\.0\.validation\.own_trades\.candidate\.taken"):
        render_html_report(Session.parse(session), [_comparison(), _comparison()], tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_regime_legend_names_the_regimes_and_the_lines_stay_on_top() -> None:
    equity_axes = equity_figure(dataclasses.replace(_comparison(), regimes_label="hue")).axes[0]
    legend = equity_axes.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["hue:", "trending up", "trending down", "ranging", "volatile"]
    for patch, regime in zip(legend.get_patches()[1:], REGIMES, strict=True):
        assert np.allclose(patch.get_facecolor(), to_rgba(REGIME_COLOURS[regime]))
    below = max([c.get_zorder() for c in equity_axes.collections] + [equity_axes.xaxis.get_zorder()])  # and the grid
    assert len(equity_axes.lines) == 2 and all(line.get_zorder() > below for line in equity_axes.lines)
    assert all(line.get_path_effects() for line in equity_axes.lines)  # the white edge over the shading


def test_regime_colours_are_distinguishable_over_white() -> None:
    over_white = {
        regime: np.array(to_rgba(colour)[:3]) * to_rgba(colour)[3] + (1 - to_rgba(colour)[3])
        for regime, colour in REGIME_COLOURS.items()
    }
    regimes = list(over_white)
    closest = min(np.abs(over_white[a] - over_white[b]).max() for i, a in enumerate(regimes) for b in regimes[i + 1 :])
    assert closest > 0.1  # at least 26 of 255 apart in some channel, as shaded on the chart


def test_daily_regimes_keeps_each_days_most_common_label() -> None:
    times = pd.to_datetime(
        [
            "2026-03-01 01:00", "2026-03-01 02:00", "2026-03-01 03:00",  # 2 ranging, 1 volatile
            "2026-03-02 23:00", "2026-03-02 23:30",  # a tie: trending_up comes first in REGIMES
            "2026-03-04 00:00",  # a day with one label
            "2026-03-05 10:00",  # NA only: no label, the day before holds
        ],
        utc=True,
    )  # fmt: skip
    labels = ["ranging", "volatile", "ranging", "ranging", "trending_up", "trending_down", None]
    daily = daily_regimes(pd.Series(labels, index=times, dtype=object))
    assert daily.index.equals(pd.DatetimeIndex(["2026-03-01", "2026-03-02", "2026-03-04"], tz="UTC"))
    assert list(daily) == ["ranging", "trending_up", "trending_down"]
    assert daily_regimes(pd.Series([None], index=times[:1], dtype=object)).empty
