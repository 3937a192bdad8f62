"""The dashboard in a real Chromium (Debian's /usr/bin/chromium through /usr/bin/chromedriver, nothing
downloaded): served from a store the test builds, the charts drawn by plotly, the numbers shown equal to
the store's, no horizontal scroll on a phone, screenshots at laptop and phone size; the empty store's
page; and the exported file opened from file:// with no server.

Screenshots go to ``$PLAYBOOK_TUNER_ARTIFACTS`` or else ``<repo>/.ci/artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.dashboard.data import read_dashboard
from framework.dashboard.page import render_page
from framework.dashboard.server import DashboardConfig, make_server, serving
from framework.livefile import write_atomically
from framework.session import Session
from framework.store import Store
from tests.dashboard_store import Built, build_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPOSITORY = Path(__file__).resolve().parents[1]
SIZES = {"laptop": (1366, 900), "phone": (390, 844)}
RENDER_TIMEOUT_S = 60


def artifacts() -> Path:
    folder = Path(os.environ.get("PLAYBOOK_TUNER_ARTIFACTS") or REPOSITORY / ".ci" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium driven by chromedriver; skip (or fail under CI=true) when either is absent."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        message = f"not installed: {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("dashboard"))


def load(driver: Any, url: str, size: tuple[int, int], charts: int) -> None:
    """Open ``url`` at ``size`` and wait until plotly has drawn ``charts`` charts (each an svg inside)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(*size)
    driver.get(url)
    drawn = (
        "return Array.from(document.querySelectorAll('.chart'))"
        ".filter(c => c.classList.contains('js-plotly-plot') && c.querySelector('svg')).length"
    )
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(lambda d: d.execute_script(drawn) >= charts)


def shown(driver: Any) -> dict[str, str]:
    """The text of every element with a ``data-testid``, as the browser shows it."""
    script = (
        "const out = {}; document.querySelectorAll('[data-testid]')"
        ".forEach(e => { out[e.dataset.testid] = e.textContent.trim(); }); return out;"
    )
    result: dict[str, str] = driver.execute_script(script)
    return result


def screenshot(driver: Any, name: str) -> Path:
    """The whole page as a PNG (the window stretched to the page's height, its width kept)."""
    width = driver.get_window_size()["width"]  # headless Chromium's window.outerWidth is at least 500
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 120, 12_000))
    target = artifacts() / f"{name}.png"
    target.unlink(missing_ok=True)
    driver.save_screenshot(str(target))
    return target


def assert_picture(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), f"{path} is no PNG"
    assert len(data) > 30_000, f"{path} is only {len(data)} bytes: a blank page?"


def no_horizontal_scroll(driver: Any) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.fixture(scope="module")
def url(built: Built) -> Iterator[str]:
    with serving(make_server("127.0.0.1", 0, DashboardConfig(built.path, None))) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/"


def expected_charts(built: Built) -> int:
    return 6 + built.equity_items  # versions, sessions, models, quality, predicted vs realised, learning


@pytest.mark.parametrize("size", list(SIZES))
def test_the_served_page_draws_its_charts_and_shows_the_stores_numbers(
    chromium: Any, built: Built, url: str, size: str
) -> None:
    load(chromium, url, SIZES[size], expected_charts(built))
    numbers = shown(chromium)
    with Store(built.path) as store:
        sessions = [Session.from_record(record) for record in store.sessions()]
        versions = store.playbook_versions()
    assert numbers["version-count"] == str(len(versions)) and numbers["live-version"] == str(versions[-1].version)
    assert numbers["session-count"] == str(len(sessions))
    assert numbers["validated-total"] == str(sum(len(s.recommendations) for s in sessions))
    assert numbers["rejected-total"] == str(sum(len(s.rejected) for s in sessions))
    for session in sessions:
        assert numbers[f"session-validated-{session.session_id}"] == str(len(session.recommendations))
        assert numbers[f"session-rejected-{session.session_id}"] == str(len(session.rejected))
    assert numbers["accuracy-share"] == "50.0 %" and numbers["accuracy-judged"] == str(built.accuracy[1])
    traces = chromium.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => p.data.length)"
    )
    assert len(traces) == expected_charts(built) and min(traces) >= 1, "every chart has data"
    assert no_horizontal_scroll(chromium), f"the page scrolls sideways at {SIZES[size]}"
    assert_picture(screenshot(chromium, f"dashboard-{size}"))


def test_the_empty_stores_page_says_how_to_get_data(chromium: Any, tmp_path: Path) -> None:
    Store(tmp_path / "empty.sqlite").close()
    with serving(make_server("127.0.0.1", 0, DashboardConfig(tmp_path / "empty.sqlite", None))) as server:
        chromium.set_window_size(*SIZES["phone"])
        chromium.get(f"http://127.0.0.1:{server.server_address[1]}/")
        text = shown(chromium)["empty-store"]
        assert "Nothing to show yet" in text and "playbook-tuner tune" in text
        assert no_horizontal_scroll(chromium)
        assert chromium.execute_script("return document.querySelectorAll('.js-plotly-plot').length") == 0
        path = screenshot(chromium, "dashboard-empty-phone")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 5_000


def test_the_exported_file_draws_its_charts_from_file_with_no_server(
    chromium: Any, built: Built, tmp_path: Path
) -> None:
    target = tmp_path / "dashboard.html"
    write_atomically(target, render_page(read_dashboard(built.path), inline_plotly=True))
    load(chromium, target.as_uri(), SIZES["laptop"], expected_charts(built))
    assert shown(chromium)["session-count"] == str(len(built.sessions))
    from plotly.offline import get_plotlyjs_version

    version = chromium.execute_script("return typeof Plotly === 'object' && Plotly.version")
    assert version == get_plotlyjs_version(), "plotly.js came from inside the file"
    fetched = chromium.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == [], f"the exported page fetched {fetched}"
    assert_picture(screenshot(chromium, "dashboard-export-laptop"))
