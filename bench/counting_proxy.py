"""An HTTP proxy in front of the SNS/SQS endpoint that counts AWS calls by action.

Every process of a benchmark talks to the proxy instead of moto, so the counts cover the
master's worker and every listener, not only the benchmark's own calls.
"""

from __future__ import annotations

import collections
import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class _QuietServer(http.server.ThreadingHTTPServer):
    """Drops connection errors: at teardown, long polls in flight lose both ends."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class CountingProxy:
    """Forwards each request to ``upstream`` and counts it by its AWS action."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.count(self.headers.get("X-Amz-Target", ""), body)
                self._forward(body)

            def do_GET(self) -> None:  # noqa: N802
                self._forward(None)

            def _forward(self, body: bytes | None) -> None:
                skip = {"host", "content-length", "connection", "accept-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, payload, rheaders = (
                            response.status,
                            response.read(),
                            response.headers,
                        )
                except urllib.error.HTTPError as e:
                    status, payload, rheaders = e.code, e.read(), e.headers
                except OSError:  # upstream went away (e.g. at teardown, mid long poll)
                    self.send_error(502)
                    return
                self.send_response(status)
                for k, v in rheaders.items():
                    if k.lower() not in {"content-length", "connection", "transfer-encoding"}:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, target: str, body: bytes) -> None:
        if target:  # JSON protocol (SQS): "AmazonSQS.ReceiveMessage"
            action = target.rsplit(".", 1)[-1]
        else:  # query protocol (SNS): Action=Publish in the form body
            action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        with self._lock:
            self.counts[action] += 1

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.counts)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
