"""Telling a running freqtrade that the live playbook changed: a POST to its REST API's
``/api/v1/reload_config``, sent with freqtrade's own client (the ``freqtrade-client`` package of the
``freqtrade`` extra, imported only when an ``api_url`` is set).

freqtrade answers by rebuilding its bot from its config, which loads the strategy again. Telling it never
raises: the change it follows is already published and stays so, and what went wrong (no connection, a
refused password, no answer in time) is one line for the person who decided. The password is sent, never
shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from framework.config import FREQTRADE_PASSWORD_ENV_VAR, FreqtradeImportSettings

EXTRA = "freqtrade"
"""The optional dependency set that installs the client: ``pip install 'playbook-tuner[freqtrade]'``."""
RELOADING = "Reloading config"
"""How freqtrade's answer to reload_config begins (``{"status": "Reloading config ..."}``)."""
UNAUTHORIZED = "Unauthorized"
"""freqtrade's ``detail`` when the username or password is wrong or missing (HTTP 401)."""


@dataclass(frozen=True)
class ReloadNotice:
    """What telling freqtrade came to: ``told`` (freqtrade is reloading) or not, and ``line``, one line for
    a human ("freqtrade told to reload its config" / "freqtrade not told: <why>")."""

    told: bool
    line: str


def tell_freqtrade(settings: FreqtradeImportSettings) -> ReloadNotice | None:
    """Ask the freqtrade at ``settings.api_url`` to reload its config, with basic auth from
    :meth:`~framework.config.FreqtradeImportSettings.api_credentials`, waiting at most
    ``settings.api_timeout`` seconds. None, and nothing sent, when no ``api_url`` is set."""
    url = settings.api_url
    if not url:
        return None
    try:
        import requests
        from freqtrade_client import FtRestClient
    except ImportError:
        return _not_told(f"the freqtrade-client package is not installed: pip install 'playbook-tuner[{EXTRA}]'")
    _quiet_without_logging_set_up()
    username, password = settings.api_credentials()
    client = FtRestClient(url, username, password, timeout=settings.api_timeout)
    try:
        answer = client.reload_config()  # None when no connection could be made: the client logs and returns
    except requests.exceptions.JSONDecodeError:
        return _not_told(f"{url} answered, but not as freqtrade's API does: is api_url the api_server's address?")
    except requests.Timeout:
        return _not_told(f"{url} gave no answer within {settings.api_timeout:g} s")
    except requests.RequestException as exc:
        return _not_told(f"the request to {url} failed: {exc}")
    return _read(answer, url, has_credentials=bool(username and password))


def _quiet_without_logging_set_up() -> None:
    """The client logs a failed connection as a warning, which :meth:`tell_freqtrade`'s line already says;
    with no logging set up (the command line) Python would print it on stderr. A NullHandler stops that,
    and a log that is set up (the bot's) still receives it."""
    client_log = logging.getLogger("ft_rest_client")
    if not client_log.handlers:
        client_log.addHandler(logging.NullHandler())


def _read(answer: Any, url: str, *, has_credentials: bool) -> ReloadNotice:
    """freqtrade's answer to reload_config, as the client returns it (the JSON body whatever the status)."""
    if answer is None:
        return _not_told(f"could not connect to {url}: is freqtrade running, with its api_server enabled?")
    if not isinstance(answer, dict):
        return _not_told(f"{url} answered {str(answer)[:80]!r}, not freqtrade's status")
    if str(answer.get("status", "")).startswith(RELOADING):
        return ReloadNotice(True, "freqtrade told to reload its config")
    if answer.get("detail") == UNAUTHORIZED:
        if not has_credentials:
            return _not_told(f"{url} asks for a username and password: set api_username and api_password")
        return _not_told(
            f"{url} refused the username and password: check api_username and api_password "
            f"(or {FREQTRADE_PASSWORD_ENV_VAR})"
        )
    why = answer.get("detail") or answer.get("error") or answer
    return _not_told(f"{url} answered: {str(why)[:200]}")


def _not_told(why: str) -> ReloadNotice:
    return ReloadNotice(False, f"freqtrade not told: {why}")
