"""A fake freqtrade REST API server on 127.0.0.1 that the real ``freqtrade-client`` talks to over HTTP.

It answers as freqtrade's api_server does (freqtrade/rpc/api_server: api_v1.py, api_trading.py,
api_auth.py): ``POST /api/v1/reload_config`` wants HTTP basic auth and answers
``{"status": "Reloading config ..."}``, 401 ``{"detail": "Unauthorized"}`` without the right credentials;
any other path is 404 ``{"detail": "Not Found"}``. Every request is recorded, with its credentials and
what ``on_request`` saw as it arrived.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USERNAME = "freqtrader"
PASSWORD = "s3cret-Pa55"


@dataclass(frozen=True)
class Received:
    """One request as the server saw it: the basic-auth credentials (None: none sent) and what
    ``on_request`` returned when it arrived."""

    method: str
    path: str
    credentials: tuple[str, str] | None
    seen: Any


class FakeFreqtradeApi:
    """The server, bound to a free port of 127.0.0.1; :attr:`url` is what ``[freqtrade] api_url`` takes."""

    def __init__(
        self, username: str = USERNAME, password: str = PASSWORD, on_request: Callable[[], Any] = lambda: None
    ):
        self.username, self.password, self.on_request = username, password, on_request
        self.received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def reloads(self) -> list[Received]:
        return [r for r in self.received if (r.method, r.path) == ("POST", "/api/v1/reload_config")]

    def answer(self, method: str, path: str, credentials: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        """freqtrade's status and JSON body for the request."""
        if (method, path) != ("POST", "/api/v1/reload_config"):
            return 404, {"detail": "Not Found"}
        if credentials is None or not (
            secrets.compare_digest(credentials[0], self.username)
            and secrets.compare_digest(credentials[1], self.password)
        ):
            return 401, {"detail": "Unauthorized"}
        return 200, {"status": "Reloading config ..."}

    @contextmanager
    def running(self) -> Iterator[FakeFreqtradeApi]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


def _handler(api: FakeFreqtradeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._respond("POST")

        def _respond(self, method: str) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            credentials = _basic_auth(self.headers.get("Authorization"))
            api.received.append(Received(method, self.path, credentials, api.on_request()))
            status, body = api.answer(method, self.path, credentials)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read `received`, not a log

    return Handler


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        username, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password


def closed_port_url() -> str:
    """The address of a port of 127.0.0.1 where nothing listens (a connection is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def silent_server() -> Iterator[str]:
    """The address of a port of 127.0.0.1 that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
