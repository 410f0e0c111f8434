"""TCP endpoints for tests: a forwarder, so an endpoint can be unreachable first and answer
later on the same port; a black hole, an endpoint that accepts connections and never answers."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        with socket.create_connection(self.server.target) as upstream:
            back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
            back.start()
            _pump(self.request, upstream)
            back.join()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.target = target


@contextlib.contextmanager
def forwarding(port: int, target: tuple[str, int]) -> Iterator[None]:
    """Accept on 127.0.0.1:``port`` and forward every connection to ``target``."""
    server = _Server(port, target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class BlackHole:
    """Accepts TCP connections on 127.0.0.1 and never answers; ``port`` and ``connections``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so the accept loop sees the stop flag
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = self._listener.accept()
                self.connections.append(connection)

    def close(self) -> None:
        """Stop listening (new connections are refused), then hang up on the accepted ones."""
        self._stop.set()
        self._thread.join()
        self._listener.close()
        for connection in self.connections:
            connection.close()


@contextlib.contextmanager
def black_hole() -> Iterator[BlackHole]:
    """An endpoint that accepts connections and never answers, until the block ends."""
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()
