"""Telling freqtrade to reload, with the real freqtrade-client against a fake freqtrade API on 127.0.0.1:
what is sent, and one clear line for each way it can go wrong; the [freqtrade] api_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from framework.config import (
    FREQTRADE_PASSWORD_ENV_VAR,
    FREQTRADE_USERNAME_ENV_VAR,
    MASKED,
    FreqtradeImportSettings,
    Settings,
    settings_to_toml,
)
from framework.freqtrade_reload import tell_freqtrade
from framework.playbook import load_playbook
from framework.store import RecommendationRecord, SessionRecord, Store
from tests.fake_freqtrade_api import PASSWORD, USERNAME, FakeFreqtradeApi, closed_port_url, silent_server


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FREQTRADE_USERNAME_ENV_VAR, raising=False)
    monkeypatch.delenv(FREQTRADE_PASSWORD_ENV_VAR, raising=False)


def api(url: str, username: str = USERNAME, password: str = PASSWORD, **more: object) -> FreqtradeImportSettings:
    return FreqtradeImportSettings.model_validate(
        {"api_url": url, "api_username": username, "api_password": password, **more}
    )


def test_reload_config_is_posted_with_basic_auth() -> None:
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url))
    assert notice is not None and notice.told
    assert notice.line == "freqtrade told to reload its config"
    assert [(r.method, r.path, r.credentials) for r in server.received] == [
        ("POST", "/api/v1/reload_config", (USERNAME, PASSWORD))
    ]


def test_no_api_url_sends_nothing() -> None:
    with FakeFreqtradeApi().running() as server:
        assert tell_freqtrade(FreqtradeImportSettings(api_username=USERNAME)) is None
    assert server.received == []


def test_a_wrong_password_is_named_and_never_shown() -> None:
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url, password="not-it-at-all"))
    assert notice is not None and not notice.told
    assert notice.line.startswith(f"freqtrade not told: {server.url} refused the username and password")
    assert "not-it-at-all" not in notice.line and FREQTRADE_PASSWORD_ENV_VAR in notice.line
    assert [r.credentials for r in server.reloads()] == [(USERNAME, "not-it-at-all")]


def test_missing_credentials_are_asked_for() -> None:
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url, username="", password=""))
    assert notice is not None and not notice.told
    assert "asks for a username and password: set api_username and api_password" in notice.line
    assert [r.credentials for r in server.reloads()] == [None]


def test_the_environment_password_and_username_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FREQTRADE_USERNAME_ENV_VAR, USERNAME)
    monkeypatch.setenv(FREQTRADE_PASSWORD_ENV_VAR, PASSWORD)
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url, username="someone-else", password="old"))
    assert notice is not None and notice.told
    assert [r.credentials for r in server.reloads()] == [(USERNAME, PASSWORD)]


def test_a_server_that_is_down_is_said_so() -> None:
    url = closed_port_url()
    notice = tell_freqtrade(api(url))
    assert notice is not None and not notice.told
    assert notice.line == (
        f"freqtrade not told: could not connect to {url}: is freqtrade running, with its api_server enabled?"
    )


def test_a_server_that_never_answers_is_given_up_after_the_timeout() -> None:
    with silent_server() as url:
        notice = tell_freqtrade(api(url, api_timeout=0.2))
    assert notice is not None and not notice.told
    assert notice.line == f"freqtrade not told: {url} gave no answer within 0.2 s"


def test_another_answer_is_quoted() -> None:
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url + "/behind/a/proxy"))
    assert notice is not None and not notice.told
    assert notice.line == f"freqtrade not told: {server.url}/behind/a/proxy answered: Not Found"
    assert [r.path for r in server.received] == ["/behind/a/proxy/api/v1/reload_config"]


def test_without_the_client_the_extra_to_install_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "freqtrade_client", None)  # what an environment without it imports
    with FakeFreqtradeApi().running() as server:
        notice = tell_freqtrade(api(server.url))
    assert notice is not None and not notice.told
    assert "pip install 'playbook-tuner[freqtrade]'" in notice.line
    assert server.received == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8080", "must be an http:// or https:// address"),
        ("http://user:pw@127.0.0.1:8080", "must not hold a user name or password"),
        ("http://127.0.0.1:8080/api/v1", "without /api/v1"),
        ("http://127.0.0.1:port", "Port could not be cast"),
        ("http://127.0.0.1:0", "names port 0"),
    ],
)
def test_a_bad_api_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FreqtradeImportSettings(api_url=url)


def test_the_api_url_is_kept_without_a_trailing_slash() -> None:
    assert FreqtradeImportSettings(api_url=" http://127.0.0.1:8080/ ").api_url == "http://127.0.0.1:8080"


def test_the_rendered_configuration_masks_the_password() -> None:
    settings = Settings(freqtrade=api("http://127.0.0.1:8080"))
    text = settings_to_toml(settings)
    assert PASSWORD not in text and PASSWORD not in repr(settings)
    assert tomllib.loads(text)["freqtrade"]["api_password"] == MASKED
    assert tomllib.loads(settings_to_toml(Settings()))["freqtrade"]["api_password"] == ""


# --- through the command line ----------------------------------------------------------------------

COMMAND = Path(sys.executable).parent / "playbook-tuner"
PLAYBOOK = (
    "default:\n  leverage: 2.0\n  stop_loss: 0.02\n  risk_reward_ratio: 2.0\n"
    "  confidence_threshold: 0.7\n  position_size: 0.1\n"
)


def pending_session(store: Path, session_id: str, leverage: tuple[float, float]) -> None:
    """A pending session changing the default leverage from ``leverage[0]`` to ``leverage[1]``."""
    now = datetime.now(UTC)
    with Store(store) as opened:
        live = opened.latest_playbook_version()
        assert live is not None
        session = SessionRecord(session_id, now, now + timedelta(hours=1), "pending", live.version, {})
        item = RecommendationRecord("r1", session_id, "default", "leverage", *leverage, "low", 0.9, "pending", {})
        opened.save_session(session, [item])


def cli(*args: str | Path, password: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_TUNER_")}
    environment[FREQTRADE_PASSWORD_ENV_VAR] = password
    command = [str(COMMAND), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


def test_the_command_line_apply_and_rollback_say_whether_freqtrade_was_told(tmp_path: Path) -> None:
    live, store, config = tmp_path / "playbook.yaml", tmp_path / "store.sqlite", tmp_path / "live.toml"
    live.write_text(PLAYBOOK, encoding="utf-8")
    with Store(store) as opened:
        opened.register_live_playbook(live)
    with FakeFreqtradeApi(on_request=lambda: load_playbook(live).value("default", "leverage")).running() as server:
        config.write_text(f'[freqtrade]\napi_url = "{server.url}"\napi_username = "{USERNAME}"\n')
        pending_session(store, "s1", (2.0, 2.4))
        told = cli("apply", "s1", "--store", store, "--config", config, password=PASSWORD)
        assert told.returncode == 0, told.stderr
        assert told.stdout.strip() == "applied 1 change as version 2; freqtrade told to reload its config"
        assert [(r.credentials, r.seen) for r in server.reloads()] == [((USERNAME, PASSWORD), 2.4)]

        pending_session(store, "s2", (2.4, 2.8))
        refused = cli("apply", "s2", "--store", store, "--config", config, password="a-wrong-one")
        assert refused.returncode == 0, refused.stderr
        assert f"applied 1 change as version 3; freqtrade not told: {server.url} refused" in refused.stdout
        assert "a-wrong-one" not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr
        assert load_playbook(live).value("default", "leverage") == pytest.approx(2.8), "the apply stands"
    down = cli("rollback", "1", "--store", store, "--config", config, password=PASSWORD)
    assert down.returncode == 0, down.stderr
    assert f"rolled back to version 1: now version 4; freqtrade not told: could not connect to {server.url}" in (
        down.stdout
    )
    assert down.stderr == "", "one line on stdout says it all"
    assert load_playbook(live).value("default", "leverage") == pytest.approx(2.0)
