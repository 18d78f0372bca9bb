"""The fake HubSpot on HTTP: a ThreadingHTTPServer on 127.0.0.1 around :class:`FakeHubSpotApp`."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import FakeHubSpotApp, RateLimits
from .portal import Portal

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like HubSpot; urllib3 pools connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            response = self.server.app.handle(self.command, url.path, query, headers, body)
        except Exception:  # a bug in the fake must not hang the client
            log.exception("fake HubSpot failed on %s %s", self.command, self.path)
            payload = b'{"status":"error","message":"fake server error","category":"INTERNAL"}'
            self._send(500, payload, {})
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self._send(response.status, payload, response.headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake HubSpot: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: FakeHubSpotApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class FakeHubSpotServer:
    """A running fake: ``base_url`` to point the adapter at, ``app``/``portal`` to steer it."""

    def __init__(self, app: FakeHubSpotApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        self._thread: threading.Thread | None = None

    @property
    def portal(self) -> Portal:
        return self.app.portal

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHubSpotServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-hubspot", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def running_fake_hubspot(
    *,
    portal: Portal | None = None,
    data_dir: str | Path | None = None,
    port: int = 0,
    token: str | None = None,
    scopes: set[str] | None = None,
    limits: RateLimits | None = None,
) -> Iterator[FakeHubSpotServer]:
    """Start a fake HubSpot on 127.0.0.1 (a free port by default) for the ``with`` block."""
    if portal is None:
        portal = Portal()
    if data_dir is not None:
        from .seed import seed_from_files

        seed_from_files(portal, Path(data_dir))
    server = FakeHubSpotServer(
        FakeHubSpotApp(portal, token=token, scopes=scopes, limits=limits), port=port
    ).start()
    try:
        yield server
    finally:
        server.stop()
