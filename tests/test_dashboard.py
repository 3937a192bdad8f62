"""The dashboard from a real store: what it reads, the numbers the page shows against the store's, the
self-contained export, the read-only server and its token, and the command's errors."""

from __future__ import annotations

import ast
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from framework.dashboard.data import read_dashboard
from framework.dashboard.page import PLOTLY_PATH, render_page
from framework.dashboard.server import COOKIE, DashboardConfig, make_server, serving
from framework.errors import PlaybookTunerError, StoreError
from framework.formatting import MISSING
from framework.sample import write_sample
from framework.session import Session
from framework.store import SessionRecord, Store
from tests.dashboard_store import START, Built, build_store

COMMAND = Path(sys.executable).parent / "playbook-tuner"
FRAMEWORK = Path(__file__).resolve().parents[1] / "framework"


class _TestIds(HTMLParser):
    """The text of every element with a ``data-testid``, and every ``<script>``'s ``src``."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.sources: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.sources.append(values["src"] or "")
        if tag in ("meta", "br", "img", "input", "link"):
            return
        testid = values.get("data-testid")
        self._open.append((tag, testid))
        if testid is not None:
            self.text.setdefault(testid, "")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            opened, _ = self._open.pop()
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, testid in self._open:
            if testid is not None:
                self.text[testid] += data


def parsed(page: str) -> _TestIds:
    parser = _TestIds()
    parser.feed(page)
    return parser


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_store(tmp_path)


def fetch(
    port: int, path: str = "/", method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of one request to the dashboard on ``port``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read().decode("utf-8")
    connection.close()
    return response.status, dict(response.getheaders()), body


@pytest.fixture
def served(built: Built) -> Iterator[int]:
    """The dashboard of the built store on loopback without a token; yields its port."""
    with serving(make_server("127.0.0.1", 0, DashboardConfig(built.path, None))) as server:
        yield server.server_address[1]


# --- what it reads -----------------------------------------------------------------------------------


def test_the_data_is_the_stores(built: Built) -> None:
    data = read_dashboard(built.path)
    assert [row.version for row in data.versions] == [1, 2, 3, 4] and data.live_version == 4
    assert {row.id: (row.validated, row.rejected) for row in data.sessions} == built.sessions
    assert {row.id: row.decisions for row in data.sessions} == built.decisions
    assert {row.id: row.data_quality for row in data.sessions} == built.quality
    assert data.sessions[0].acceptance == pytest.approx(1 / 3)
    assert len(data.equity) == built.equity_items
    assert {chart.session_id for chart in data.equity} == {"s2", "s3", "s4"}
    models = [p for p in data.models if p.validated]
    assert len(models) == sum(v for v, _ in built.sessions.values())
    assert all(p.confidence is not None for p in models)
    assert not any(p.validated for p in data.models if p.tuner == "risk_ratio")


def test_each_parameter_is_a_step_series_over_the_versions_durations_in_hours(built: Built) -> None:
    series = {(s.regime, s.parameter): s for s in read_dashboard(built.path).parameters}
    assert series[("default", "leverage")].values == (2.0, 2.4, 2.4, 2.4)
    assert series[("default", "max_hold")].values == (48.0, 48.0, 36.0, 36.0)
    assert series[("default", "max_hold")].unit == "hours"
    assert series[("ranging", "risk_reward_ratio")].values == (3.0, 3.0, 2.5, 2.5)
    assert series[("volatile", "leverage")].values == (3.0,) * 4 and not series[("volatile", "leverage")].changed
    assert ("ranging", "leverage") not in series, "a regime that does not set it follows the default line"
    assert not any(name == "minimal_roi" for _, name in series), "the ROI table is no number; its scale is"
    assert ("default", "minimal_roi_scale") in series
    assert series[("default", "leverage")].times[1] == START + timedelta(days=8)


def test_the_learning_curve_counts_each_version_from_the_week_it_was_first_judged(built: Built) -> None:
    audit = read_dashboard(built.path).audit
    assert audit is not None and audit.audits == 2
    assert [(p.week.date().isoformat(), p.judged, p.better) for p in audit.learning] == [
        ("2026-09-21", 1, 1),  # the first audit judged version 2 better (version 3 was young)
        ("2026-09-28", 2, 1),  # the second judged version 3 worse
    ]
    assert [a.version for a in audit.predicted_vs_realised] == [2, 3, 4]
    assert [a.version for a in audit.report.flagged()] == [3]


def test_a_version_that_is_no_valid_playbook_is_listed_but_not_drawn(built: Built) -> None:
    live = built.path.parent / "playbook.yaml"
    live.write_text("default: [not, a, playbook]\n", encoding="utf-8")
    with Store(built.path) as store:
        store.register_live_playbook(live)
    data = read_dashboard(built.path)
    assert [row.readable for row in data.versions] == [True, True, True, True, False]
    assert len(next(s for s in data.parameters if s.parameter == "leverage").values) == 4
    assert "Not a valid playbook (not drawn): version 5." in render_page(data, inline_plotly=False)


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        read_dashboard(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


# --- the page ----------------------------------------------------------------------------------------


def test_the_pages_numbers_are_the_stores(built: Built) -> None:
    shown = parsed(render_page(read_dashboard(built.path), inline_plotly=False)).text
    with Store(built.path) as store:
        versions = store.playbook_versions()
        sessions = [Session.from_record(record) for record in store.sessions()]
        statuses = {record.id: [r.status for r in store.recommendations(record.id)] for record in store.sessions()}
    assert shown["version-count"] == str(len(versions))
    assert shown["live-version"] == str(versions[-1].version)
    assert shown["session-count"] == str(len(sessions))
    validated = sum(len(s.recommendations) for s in sessions)
    rejected = sum(len(s.rejected) for s in sessions)
    assert shown["validated-total"] == str(validated) and shown["rejected-total"] == str(rejected)
    assert shown["acceptance-rate"] == f"{100 * validated / (validated + rejected):.1f} %"
    for session in sessions:
        sid = session.session_id
        assert shown[f"session-validated-{sid}"] == str(len(session.recommendations))
        assert shown[f"session-rejected-{sid}"] == str(len(session.rejected))
        rate = len(session.recommendations) / (len(session.recommendations) + len(session.rejected))
        assert shown[f"session-acceptance-{sid}"] == f"{100 * rate:.1f} %"
        assert shown[f"session-decisions-{sid}"].startswith(
            ", ".join(f"{s} {statuses[sid].count(s)}" for s in sorted(set(statuses[sid])))
        )
    assert shown["data-quality-latest"] == f"{sessions[-1].data_quality.score:.0f} %"
    assert shown["accuracy-share"] == "50.0 %" and shown["accuracy-judged"] == "2"
    assert shown["accuracy-worse"] == "1" and shown["audit-flagged"] == "1"
    assert shown["verdict-3"] == "worse" and shown["verdict-2"] == "better"
    assert (shown["predicted-3"], shown["realised-3"]) == ("+0.600 %", "-0.300 %")  # effects per trade
    assert shown["reversals-ranging.leverage"] == "2"
    charts = [testid for testid in shown if testid.startswith("chart-")]
    assert {"chart-versions", "chart-sessions", "chart-models", "chart-quality", "chart-predicted-realised",
            "chart-learning"} <= set(charts)  # fmt: skip
    assert len([c for c in charts if c.startswith("chart-equity-")]) == built.equity_items


def test_the_page_reads_on_a_phone_and_escapes_what_it_shows(built: Built) -> None:
    with Store(built.path) as store:
        live = store.latest_playbook_version()
        assert live is not None
        store.publish_playbook(Path(live.path), live.text, author="<b>mallory</b>", reason="</script><i>x</i>")
        created = START + timedelta(days=40)
        odd = "s</script><!--5"
        session = Session.parse({"session_id": odd, "created_at": created.isoformat(),
                                 "expires_at": (created + timedelta(days=1)).isoformat()})  # fmt: skip
        store.save_session(SessionRecord(odd, created, created + timedelta(days=1), "pending", 5, session.stored()), [])
    page = render_page(read_dashboard(built.path), inline_plotly=False)
    figures = re.findall(r'<script type="application/json" data-figure="chart-sessions">(.*?)</script>', page)
    assert len(figures) == 1 and odd in json.dumps(json.loads(figures[0])), "the id is in the chart, whole"
    assert page.count("</script>") == page.count("<script"), "no stored text ends a script element"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width: 700px)" in page and "responsive: true" in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page and "<b>mallory</b>" not in page
    assert "</script><i>" not in page


def test_an_empty_store_says_there_is_nothing_yet_and_how_to_get_data(tmp_path: Path) -> None:
    Store(tmp_path / "empty.sqlite").close()
    data = read_dashboard(tmp_path / "empty.sqlite")
    assert data.empty
    page = render_page(data, inline_plotly=False)
    shown = parsed(page)
    assert "Nothing to show yet" in shown.text["empty-store"]
    assert "playbook-tuner tune" in shown.text["empty-store"]
    assert shown.sources == [] and "Plotly.newPlot" not in page, "no chart, so no plotly"
    assert shown.text["live-version"] == "none"


def test_a_store_with_a_version_alone_shows_it_and_says_no_session_yet(tmp_path: Path) -> None:
    live = tmp_path / "playbook.yaml"
    live.write_text("default:\n  leverage: 2.0\n  stop_loss: 0.02\n  risk_reward_ratio: 2.0\n"
                    "  confidence_threshold: 0.5\n  position_size: 0.1\n", encoding="utf-8")  # fmt: skip
    with Store(tmp_path / "store.sqlite") as store:
        store.register_live_playbook(live)
    data = read_dashboard(tmp_path / "store.sqlite")
    assert not data.empty
    page = render_page(data, inline_plotly=False)
    shown = parsed(page).text
    assert shown["version-count"] == "1" and shown["session-count"] == "0" and shown["acceptance-rate"] == MISSING
    assert "No tuning session yet" in shown["sessions"] and "No audit stored yet" in shown["audit"]
    assert "chart-versions" not in shown, "one version draws no timeline"
    assert shown["unchanged-table"].count("leverage") == 1


# --- the command: export and errors ------------------------------------------------------------------


def test_the_export_is_one_self_contained_file_written_atomically(built: Built, tmp_path: Path) -> None:
    target = tmp_path / "dashboard.html"
    target.write_text("an older export", encoding="utf-8")
    before = target.stat().st_ino
    result = run("dashboard", "--store", built.path, "--export", target)
    assert result.returncode == 0, result.stderr
    assert f"written to {target}" in result.stdout
    page = target.read_text(encoding="utf-8")
    assert target.stat().st_ino != before, "a new file renamed over the old one, never written in place"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
    shown = parsed(page)
    assert shown.sources == [], "plotly.js is inlined: no <script src=...>"
    assert "<script src=http" not in page.replace('"', "").replace("'", "")
    assert len(page) > 3_000_000 and "Plotly.newPlot" in page, "plotly.js itself is in the file"
    assert shown.text["session-count"] == str(len(built.sessions))


def test_a_missing_store_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "store.sqlite"
    result = run("dashboard", "--store", missing, "--export", tmp_path / "d.html")
    assert result.returncode == 2
    assert f"no store at {missing}" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "d.html").exists()


def test_an_export_into_a_missing_folder_is_refused_before_reading(built: Built, tmp_path: Path) -> None:
    result = run("dashboard", "--store", built.path, "--export", tmp_path / "no" / "d.html")
    assert result.returncode == 2
    assert "--export" in result.stderr and "does not exist; nothing was done" in result.stderr


def test_plotly_is_imported_by_the_dashboard_package_alone_and_not_at_start() -> None:
    importers = []
    for path in FRAMEWORK.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "plotly" for name in names):
                importers.append(path.relative_to(FRAMEWORK).parts[0])
    assert importers and set(importers) == {"dashboard"}
    probe = "import sys, framework.cli; print(sorted(m for m in ('plotly', 'pandas') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


# --- the server --------------------------------------------------------------------------------------


def test_the_server_answers_get_and_head_and_refuses_every_other_method(served: int) -> None:
    status, headers, page = fetch(served)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert parsed(page).sources == [PLOTLY_PATH]
    status, _, script = fetch(served, "/" + PLOTLY_PATH)
    assert status == 200 and len(script) > 3_000_000
    status, headers, body = fetch(served, method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 1000
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        status, headers, _ = fetch(served, method=method)
        assert (status, headers.get("Allow")) == (405, "GET, HEAD"), method
    assert fetch(served, "/admin")[0] == 404
    assert fetch(served, headers={"Host": "rebound.example:8050"})[0] == 403, "a DNS name rebound to loopback"
    assert fetch(served, headers={"Host": "localhost"})[0] == 200


def test_each_request_reads_the_store_again(built: Built, served: int) -> None:
    assert parsed(fetch(served)[2]).text["session-count"] == "4"
    with Store(built.path) as store:
        created = START + timedelta(days=30)
        session = Session.parse({"session_id": "s5", "created_at": created.isoformat(),
                                 "expires_at": (created + timedelta(days=1)).isoformat()})  # fmt: skip
        store.save_session(
            SessionRecord("s5", created, created + timedelta(days=1), "pending", 4, session.stored()), []
        )
    assert parsed(fetch(served)[2]).text["session-count"] == "5"


def test_a_store_gone_while_serving_is_an_error_page_not_a_traceback(built: Built, served: int) -> None:
    for path in built.path.parent.glob("store.sqlite*"):
        path.unlink()
    status, _, page = fetch(served)
    assert status == 500 and f"error: no store at {built.path}" in parsed(page).text["error"]
    assert not built.path.exists(), "the dashboard never creates a store"


def test_anything_but_loopback_needs_a_token(built: Built) -> None:
    with pytest.raises(PlaybookTunerError, match="give --token"):
        make_server("0.0.0.0", 0, DashboardConfig(built.path, None))


def test_with_a_token_only_requests_carrying_it_are_answered(built: Built) -> None:
    with serving(make_server("0.0.0.0", 0, DashboardConfig(built.path, "s3cret-token"))) as server:
        port = server.server_address[1]
        assert fetch(port)[0] == 403
        assert fetch(port, "/" + PLOTLY_PATH)[0] == 403
        assert fetch(port, "/?token=wrong")[0] == 403
        assert fetch(port, headers={"Authorization": "Bearer wrong"})[0] == 403
        assert fetch(port, headers={"Cookie": f"{COOKIE}=wrong"})[0] == 403
        status, headers, _ = fetch(port, "/?token=s3cret-token")
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=s3cret-token;") and "HttpOnly" in cookie
        assert fetch(port, headers={"Cookie": f"{COOKIE}=s3cret-token"})[0] == 200
        assert fetch(port, headers={"Authorization": "Bearer s3cret-token"})[0] == 200
        assert fetch(port, method="POST", headers={"Authorization": "Bearer s3cret-token"})[0] == 405


def test_the_command_makes_a_token_off_loopback_never_logs_it_and_stops_on_ctrl_c(built: Built) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "PLAYBOOK_TUNER_DASHBOARD_TOKEN"}
    process = subprocess.Popen(
        [str(COMMAND), "dashboard", "--store", str(built.path), "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert "made a token" in lines[0]
        url = lines[1].split(": ", 1)[1].split()[0]
        port, token = int(url.split(":")[2].split("/")[0]), url.split("?token=")[1]
        assert len(token) >= 32
        assert fetch(port)[0] == 403
        assert fetch(port, f"/?token={token}")[0] == 303
        assert fetch(port, headers={"Authorization": f"Bearer {token}"})[0] == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert "GET / 403" in out and "GET / 303" in out
    assert token not in out.replace(url, ""), "the request log never holds the token"


# --- a real tune ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real tune of a 120-day sample through the command line, its changes applied (version 2)."""
    directory = write_sample(tmp_path_factory.mktemp("tuned"), seed=7, days=120).directory
    config = directory / "fast.toml"
    config.write_text("lookback_days = 365\n[tuner_options]\nrisk_ratio = {trials = 15}\n")
    store = directory / "store.sqlite"
    result = run(
        "tune",
        "--trades", directory / "trades.csv",
        "--prices", directory / "prices",
        "--playbook", directory / "playbook.yaml",
        "--store", store,
        "--config", config,
        "--json", directory / "session.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((directory / "session.json").read_text(encoding="utf-8"))
    applied = run("apply", document["session_id"], "--store", store)
    assert applied.returncode == 0, applied.stderr
    return store, document


@pytest.mark.slow
def test_a_real_tunes_session_and_applied_version_are_on_the_page(
    tuned: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    store, document = tuned
    target = tmp_path / "dashboard.html"
    assert run("dashboard", "--store", store, "--export", target).returncode == 0
    page = parsed(target.read_text(encoding="utf-8"))
    sid = document["session_id"]
    assert page.text["version-count"] == "2" and page.text["session-count"] == "1"
    assert page.text[f"session-validated-{sid}"] == str(len(document["recommendations"]))
    assert page.text[f"session-rejected-{sid}"] == str(len(document["rejected"]))
    assert page.text[f"session-decisions-{sid}"] == f"applied {len(document['recommendations'])}"
    assert page.text["data-quality-latest"] == f"{document['data_quality']['score']:.0f} %"
    assert "chart-versions" in page.text, "the applied changes are steps of the timeline"
    equity = [testid for testid in page.text if testid.startswith("chart-equity-")]
    assert len(equity) == len(document["recommendations"]), "each validated change's equity is drawn"
    data = read_dashboard(store)
    changed = {(s.regime, s.parameter) for s in data.parameters if s.changed}
    assert {(r["regime"], r["parameter"]) for r in document["recommendations"]} <= changed


@pytest.mark.slow
def test_a_real_audit_of_an_applied_session_is_on_the_page(tmp_path: Path) -> None:
    """A real tuning session applied at a go-live time, a month traded under it, then the real audit."""
    from backtests.audit_cases import applied_session

    case = applied_session(tmp_path)
    report = case.desk().audit()
    audit = report.of(2)
    assert audit is not None
    data = read_dashboard(case.files.store_path)
    assert data.audit is not None and data.audit.report == report
    shown = parsed(render_page(data, inline_plotly=False)).text
    assert shown["verdict-2"] == audit.verdict.replace("_", " ")
    assert shown["accuracy-judged"] == str(report.accuracy.judged)
    assert shown["session-count"] == "1" and shown["version-count"] == "2"
    drawn = audit.prediction is not None and audit.prediction.effect is not None and audit.realised is not None
    assert ("chart-predicted-realised" in shown) == drawn
    assert ("stability-table" in shown) == bool(report.stability)
