"""An HTTP proxy in front of moto that fails on command: the SNS/SQS endpoint going away.

Processes under test are pointed at the proxy instead of moto; the test switches its mode:

- ``PASS``: forward every request to moto and its answer back (the healthy endpoint);
- ``REFUSE``: close each connection without an answer (the endpoint is down);
- ``ERROR``: answer HTTP 503 ``ServiceUnavailable`` in the AWS query-protocol shape
  (the endpoint is up but failing).

It counts requests per AWS action and mode, so a test can show that calls were refused
and that they were retried.
"""

from __future__ import annotations

import collections
import enum
import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_ERROR_BODY = (
    b'<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type>'
    b"<Code>ServiceUnavailable</Code><Message>injected by the fault proxy</Message>"
    b"</Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
)
_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class Mode(enum.Enum):
    PASS = "pass"
    REFUSE = "refuse"
    ERROR = "error"


def aws_action(target: str, body: bytes) -> str:
    """The AWS action of a request: SQS's JSON protocol header, else SNS's query form."""
    if target:  # "AmazonSQS.ReceiveMessage"
        return target.rsplit(".", 1)[-1]
    return urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections dropped on purpose, or at teardown mid long poll


class FaultProxy:
    """Forwards to ``upstream`` or fails, by ``mode``; a context manager that owns its thread."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = Mode.PASS
        self.calls: collections.Counter[tuple[str, Mode]] = collections.Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = proxy.record(aws_action(self.headers.get("X-Amz-Target", ""), body))
                if mode is Mode.REFUSE:
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode is Mode.ERROR:
                    self._answer(503, _ERROR_BODY, {"Content-Type": "text/xml"})
                    return
                self._forward(body)

            def do_GET(self) -> None:  # noqa: N802
                self._forward(None)

            def _forward(self, body: bytes | None) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, payload, answer = response.status, response.read(), response.headers
                except urllib.error.HTTPError as e:
                    status, payload, answer = e.code, e.read(), e.headers
                except OSError:  # moto went away (teardown, mid long poll)
                    self.close_connection = True
                    return
                kept = {k: v for k, v in answer.items() if k.lower() not in _HOP_HEADERS}
                self._answer(status, payload, kept)

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, action: str) -> Mode:
        """Count one request under the current mode; the mode it is handled in."""
        with self._lock:
            mode = self.mode
            self.calls[(action, mode)] += 1
            return mode

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode

    def count(self, action: str, mode: Mode | None = None) -> int:
        """Requests for ``action`` seen so far (in ``mode``, or in any mode)."""
        with self._lock:
            return sum(n for (a, m), n in self.calls.items() if a == action and mode in (None, m))

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
