"""Loopback ports: a free one, whether one can be bound or answers, whether a URL answers.

The one home of these checks: ``up`` uses them, and so do devstack, the tests and bench.
"""

from __future__ import annotations

import socket
import urllib.request

from reactive_cli.localstack.layout import CLIENT_PORT_OPTION, PORT_OPTIONS, Layout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (asked of the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def busy_ports(layout: Layout) -> list[tuple[str, int]]:
    """The (part, port) pairs of the layout that something else already holds."""
    return [(name, port) for name, port in layout.ports().items() if not bindable(port)]


def bindable(port: int) -> bool:
    """Whether a server could bind ``port`` on 127.0.0.1 now (with SO_REUSEADDR, as servers
    bind: a port in TIME_WAIT is free, one a listener holds is not)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_in_use_message(busy: list[tuple[str, int]]) -> str:
    """One line naming each busy port and the option that moves it."""
    parts = [
        f"{port} ({name}; {PORT_OPTIONS.get(name, CLIENT_PORT_OPTION)})" for name, port in busy
    ]
    return (
        f"port{'s' if len(parts) > 1 else ''} already in use: {', '.join(parts)}: stop what "
        "listens there, or choose free ports with the options named"
    )


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 within a second (False while nothing listens there)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
