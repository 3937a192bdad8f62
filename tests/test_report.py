"""Charts and the HTML report of a tuning session: sizes, colours, drawdowns, self-containment, escaping."""

from __future__ import annotations

import base64
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
from framework.regimes import REGIMES
from framework.report import (
    REGIME_COLOURS,
    EquityComparison,
    drawdown,
    equity_chart_png,
    equity_figure,
    render_html_report,
)

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


def _session(reason: str = "p-value 0.41 >= 0.05 <b>not better</b> & worse") -> dict[str, Any]:
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
            recommendation("rec<1>", "high", {"r2": 0.21, "mae": 0.013}),
            recommendation("rec-2", "low", None),
        ],
        "rejected": [
            {"regime": "volatile", "parameter": "stop_loss", "tuner": "risk_ratio", "reason": reason},
            {"regime": "trending_up", "parameter": "max_hold", "tuner": "x", "reason": "DSR 0.6 < 0.95"},
        ],
    }


def test_html_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    charts = [_comparison('title with "quotes" <i>'), _comparison(seed=1)]
    render_html_report(_session(), charts, path)
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
        render_html_report(_session(), [_comparison(), _comparison()], path)
    assert path.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_html_report_refuses_a_mismatch_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    with pytest.raises(ValueError, match="2 recommendations"):
        render_html_report(_session(), [_comparison()], path)
    broken = _session()
    del broken["recommendations"][1]["risk"]
    with pytest.raises(ValueError, match=r"recommendations\.1\.risk"):
        render_html_report(broken, [_comparison(), _comparison()], path)
    with pytest.raises(PlaybookTunerError, match="does not exist"):
        render_html_report(_session(), [_comparison(), _comparison()], tmp_path / "missing" / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_html_report_without_recommendations_or_rejections(tmp_path: Path) -> None:
    session = {**_session(), "recommendations": [], "rejected": []}
    path = tmp_path / "report.html"
    render_html_report(session, [], path)
    text = path.read_text(encoding="utf-8")
    assert "No change passed validation." in text
    assert "data:image/png" not in text
