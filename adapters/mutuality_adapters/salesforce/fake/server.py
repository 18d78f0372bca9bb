"""The fake org behind a real HTTP server on 127.0.0.1, for tests, demos and benchmarks.

    with FakeSalesforce(daily_limit=15_000) as fake:
        seed_folder(fake.org, "examples/data")
        environ = fake.environ()   # SALESFORCE_INSTANCE_URL + SALESFORCE_SESSION_ID

Besides the Salesforce resources, a small control API (not part of Salesforce) lets a
shell inject faults into a server started with ``mutuality fake salesforce``:
``GET /_fake/stats``, ``POST /_fake/fault {"kind": "server_error", "times": 2}``,
``POST /_fake/lock {"ids": [...], "times": 1}``, ``POST /_fake/expire``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from mutuality_adapters.salesforce.fake.org import FakeOrg, Response

__all__ = ["FakeSalesforce"]

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake salesforce: " + format, *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the org's clock, like SystemModstamp does.
        return email.utils.format_datetime(self.server.org.clock(), usegmt=True)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        if split.path.startswith("/_fake/"):
            response = self._control(split.path, body)
        else:
            response = self.server.org.handle(
                self.command, split.path, split.query, dict(self.headers.items()), body
            )
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _control(self, path: str, body: bytes) -> Response:
        org = self.server.org
        payload = json.loads(body or b"{}")
        if path == "/_fake/stats":
            result: Any = org.stats()
        elif path == "/_fake/fault":
            org.fail_next(
                payload["kind"],
                times=int(payload.get("times", 1)),
                path_contains=payload.get("path_contains"),
                method=payload.get("method"),
                skip=int(payload.get("skip", 0)),
                retry_after=payload.get("retry_after"),
            )
            result = {"ok": True}
        elif path == "/_fake/lock":
            org.lock_rows(payload.get("ids", []), times=int(payload.get("times", 1)))
            result = {"ok": True}
        elif path == "/_fake/expire":
            result = {"session_id": org.expire_sessions()}
        else:
            return Response(
                404, b'{"error": "unknown control path"}', {"Content-Type": "application/json"}
            )
        return Response(200, json.dumps(result).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, org: FakeOrg) -> None:
        self.org = org
        super().__init__(("127.0.0.1", port), _Handler)


class FakeSalesforce:
    """A running fake server; use as a context manager or call start()/stop()."""

    def __init__(self, org: FakeOrg | None = None, *, port: int = 0, **org_options: Any) -> None:
        self.org = org or FakeOrg(**org_options)
        self._server = _Server(port, self.org)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def session_id(self) -> str:
        return self.org.session_id

    def environ(self) -> dict[str, str]:
        """The environment variables that point the adapter at this server."""
        return {"SALESFORCE_INSTANCE_URL": self.url, "SALESFORCE_SESSION_ID": self.session_id}

    def start(self) -> FakeSalesforce:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so stop() returns quickly
                name="fake-salesforce",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        """Release the port after :meth:`serve_forever` returned."""
        self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
