"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer``, read-only, with a token
off loopback.

- Read-only: GET and HEAD only; any other method is answered 405 (``Allow: GET, HEAD``).
- Every page is built from the store on that request (:func:`~framework.dashboard.data.read_dashboard`
  opens a fresh :class:`~framework.store.Store` and closes it).
- With a token (required when bound to anything but loopback), a request must carry it: ``?token=``
  (answered with an HttpOnly cookie and a redirect to the page without it), the cookie, or an
  ``Authorization: Bearer`` header; anything else gets 403. Tokens are compared with
  ``secrets.compare_digest``. The token never appears in the request log.
- Without a token (loopback), a request must name a loopback host in its ``Host`` header, so a web
  page elsewhere cannot read the dashboard through a DNS name rebound to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from framework.dashboard.data import read_dashboard
from framework.dashboard.page import PLOTLY_PATH, plotly_js, render_page
from framework.errors import PlaybookTunerError

TOKEN_ENV_VAR = "PLAYBOOK_TUNER_DASHBOARD_TOKEN"
COOKIE = "playbook_tuner_dashboard"
ALLOWED = "GET, HEAD"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random token (``secrets.token_urlsafe``)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class DashboardConfig:
    """What the server serves: the store at ``store``; ``token`` None means no token is asked (loopback only)."""

    store: Path
    token: str | None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    log: Callable[[str], None] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    config: DashboardConfig


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, config: DashboardConfig) -> ThreadingHTTPServer:
    """A server bound to ``host``:``port`` (0: any free port), not yet serving. Refuses (``PlaybookTunerError``)
    a host other than loopback without a token."""
    if config.token is None and not is_loopback(host):
        raise PlaybookTunerError(f"--host {host} is reachable from other machines: give --token or ${TOKEN_ENV_VAR}")
    if config.token is not None and not config.token:
        raise PlaybookTunerError("the dashboard token is empty")
    kind = _Server6 if ":" in host else _Server
    try:
        server = kind((host, port), _Handler)
    except OSError as exc:
        raise PlaybookTunerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.config = config
    return server


def url_of(server: ThreadingHTTPServer, host: str, token: str | None) -> str:
    """The address a browser opens (with ``?token=`` when there is one)."""
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve in a background thread for the ``with`` block (the tests', and anyone embedding it)."""
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "playbook-tuner-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def __getattr__(self, name: str) -> Any:
        """Every other method (POST, PUT, DELETE, ...): 405, nothing is changed."""
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b"read-only: GET and HEAD only\n",
            "text/plain",
            body=True,
            headers={"Allow": ALLOWED},
        )

    def _answer(self, *, body: bool) -> None:
        config = self.server.config
        url = urlsplit(self.path)
        given = parse_qs(url.query).get("token", [None])[0]
        if config.token is None and not is_loopback(_host_name(self.headers.get("Host", ""))):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: not a loopback Host\n", "text/plain", body=body)
            return
        if config.token is not None:
            if given is not None and _same(given, config.token):
                cookie = f"{COOKIE}={config.token}; HttpOnly; SameSite=Strict; Path=/"
                self._send(
                    HTTPStatus.SEE_OTHER,
                    b"",
                    "text/plain",
                    body=body,
                    headers={"Location": url.path or "/", "Set-Cookie": cookie},
                )
                return
            if not self._authorised(config.token):
                self._send(
                    HTTPStatus.FORBIDDEN, b"forbidden: this dashboard needs its token\n", "text/plain", body=body
                )
                return
        if url.path == "/":
            try:
                page = render_page(read_dashboard(config.store, clock=config.clock), inline_plotly=False)
            except PlaybookTunerError as exc:
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error_page(str(exc)), "text/html", body=body)
                return
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html", body=body)
        elif url.path == "/" + PLOTLY_PATH:
            self._send(
                HTTPStatus.OK,
                plotly_js().encode("utf-8"),
                "text/javascript",
                body=body,
                headers={"Cache-Control": "max-age=86400"},
            )
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", body=body)

    def _authorised(self, token: str) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and _same(header.removeprefix("Bearer ").strip(), token):
            return True
        try:
            cookies = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and _same(morsel.value, token)

    def _send(
        self, status: HTTPStatus, content: bytes, kind: str, *, body: bool, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if kind == "text/html":
            self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log = self.server.config.log
        if log is not None:  # the path without its query: the token is never written down
            log(f"{self.command} {urlsplit(self.path).path} {int(code) if str(code).isdigit() else code}")

    def log_message(self, format: str, *args: Any) -> None:
        """What the standard library reports (a malformed request) is logged without its text (it may hold a token)."""
        log = self.server.config.log
        if log is not None:
            log("a malformed request was refused")


def _host_name(header: str) -> str:
    """The host of a ``Host`` header (``127.0.0.1:8050`` -> ``127.0.0.1``, ``[::1]:8050`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _same(given: str, token: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _error_page(message: str) -> bytes:
    import html

    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>playbook-tuner dashboard</title>'
        f'</head><body><h1>playbook-tuner dashboard</h1><p data-testid="error">error: {html.escape(message)}</p>'
        "</body></html>"
    ).encode()
