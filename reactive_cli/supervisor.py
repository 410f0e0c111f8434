"""supervisord's XML-RPC interface over its unix socket; its Faults become our errors here, once.

Names: supervisord calls a process ``group:name``. A program with ``numprocs`` is a group of
processes ``<program>-NN`` (``shop-listener:shop-listener-00``); a program without is a group
of one whose name equals the group (``master-web:master-web``). Operators may give a process
name, a group name or a client name (that client's listener processes); ``select`` resolves
them. Batches use ``system.multicall`` directly: ``xmlrpc.client.MultiCall`` mistakes
supervisor's dict results for faults (TOOLCHAIN.md §3).
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactive_users.core.errors import (
    ReactiveError,
    SpawnFailed,
    SupervisorError,
    SupervisorNotRunning,
    UnknownProcess,
)

#: The socket's file name inside the stack's state directory.
SOCKET_NAME = "supervisor.sock"
#: The longest unix socket path the kernel takes (sun_path is 108 bytes with its NUL).
MAX_SOCKET_PATH_BYTES = 107
#: A listener program is called ``<client>-listener``; its processes ``<client>-listener-NN``.
LISTENER_SUFFIX = "-listener"
#: Bytes of a process's log shown with a spawn error.
SPAWN_LOG_TAIL_BYTES = 600

# supervisor.xmlrpc.Faults, by value (importing supervisor here would make the CLI slower).
BAD_NAME = 10
NO_FILE = 20
NOT_EXECUTABLE = 21
FAILED = 30
ABNORMAL_TERMINATION = 40
SPAWN_ERROR = 50
ALREADY_STARTED = 60
NOT_RUNNING = 70
SHUTDOWN_STATE = 6
STILL_RUNNING = 91

#: Faults that are the outcome the operator asked for: reported, not raised.
NO_OP_FAULTS: dict[int, str] = {ALREADY_STARTED: "already running", NOT_RUNNING: "not running"}
#: Faults that become errors, and the error each becomes (a test checks every one maps).
FAULTS: dict[int, type[ReactiveError]] = {
    BAD_NAME: UnknownProcess,
    SPAWN_ERROR: SpawnFailed,
    NO_FILE: SpawnFailed,
    NOT_EXECUTABLE: SpawnFailed,
    ABNORMAL_TERMINATION: SupervisorError,
    FAILED: SupervisorError,
    SHUTDOWN_STATE: SupervisorError,
    STILL_RUNNING: SupervisorError,
}


def socket_path(state_dir: Path) -> Path:
    """Where a stack's supervisord listens for XML-RPC."""
    return state_dir / SOCKET_NAME


@dataclass(frozen=True, kw_only=True)
class Process:
    """One process as supervisord reports it (``getProcessInfo``)."""

    group: str
    name: str
    state: str
    pid: int
    #: supervisord's clock (epoch seconds) when the process started, and now.
    start: int = 0
    now: int = 0
    description: str = ""

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> Process:
        """From one entry of ``getAllProcessInfo``."""
        return cls(
            group=str(info["group"]),
            name=str(info["name"]),
            state=str(info["statename"]),
            pid=int(info.get("pid") or 0),
            start=int(info.get("start") or 0),
            now=int(info.get("now") or 0),
            description=str(info.get("description", "")),
        )

    @property
    def full_name(self) -> str:
        return f"{self.group}:{self.name}"

    @property
    def uptime_seconds(self) -> int | None:
        """Seconds since start while running; None otherwise."""
        return self.now - self.start if self.state == "RUNNING" and self.start else None

    @property
    def is_listener(self) -> bool:
        return self.group.endswith(LISTENER_SUFFIX)

    @property
    def client(self) -> str | None:
        """The client whose listener this is, or None."""
        return self.group.removesuffix(LISTENER_SUFFIX) if self.is_listener else None


def select(processes: Sequence[Process], name: str) -> list[Process]:
    """The processes ``name`` means: a process (``name`` or ``group:name``), a group, or a
    client (its listeners); ``UnknownProcess`` naming what is known otherwise."""
    for wanted in (name, f"{name}{LISTENER_SUFFIX}"):
        found = [p for p in processes if wanted in (p.name, p.full_name, p.group)]
        if found:
            return found
    raise UnknownProcess(f"no process or client named {name!r}: {known_names(processes)}")


def known_names(processes: Sequence[Process]) -> str:
    """The clients and process names an operator may give, for error messages."""
    clients = sorted({p.client for p in processes if p.client})
    names = sorted(p.name for p in processes)
    return f"clients: {', '.join(clients) or 'none'}; processes: {', '.join(names) or 'none'}"


def fault_error(fault: xmlrpc.client.Fault, what: str, *, detail: str = "") -> ReactiveError:
    """The error a supervisord Fault becomes; ``detail`` (known names, a log tail) is appended."""
    cls = FAULTS.get(fault.faultCode, SupervisorError)
    reason = {
        BAD_NAME: "no such process",
        SPAWN_ERROR: "it exited before it counted as started",
        NO_FILE: "its command does not exist",
        NOT_EXECUTABLE: "its command is not executable",
        ABNORMAL_TERMINATION: "it did not stop cleanly",
        SHUTDOWN_STATE: "supervisord is shutting down",
        STILL_RUNNING: "it is still running",
        FAILED: f"supervisord failed ({fault.faultString})",
    }.get(fault.faultCode, fault.faultString)
    message = f"{what}: {reason}"
    return cls(f"{message}: {detail}" if detail else message)


def _fault_from_result(result: Any) -> xmlrpc.client.Fault | None:
    if isinstance(result, dict) and "faultCode" in result:
        return xmlrpc.client.Fault(result["faultCode"], result.get("faultString", ""))
    return None


class Supervisor:
    """A stack's supervisord, reached over its unix socket."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def _proxy(self) -> xmlrpc.client.ServerProxy:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        # The URL is ignored for unix sockets but must be valid.
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    @contextmanager
    def _rpc(self) -> Iterator[xmlrpc.client.ServerProxy]:
        """A proxy for one or more calls, closed afterwards; an unreachable socket is
        ``SupervisorNotRunning``."""
        try:
            with self._proxy() as proxy:
                yield proxy
        except OSError as exc:  # no socket file, a stale one, or no permission
            raise SupervisorNotRunning(
                f"supervisord is not running (nothing answers on {self.socket}): "
                "start the stack with `reactive up`"
            ) from exc

    def call(self, method: str, *params: Any) -> Any:
        """``supervisor.<method>(*params)``; Faults become our errors (no detail)."""
        with self._rpc() as proxy:
            try:
                return getattr(proxy.supervisor, method)(*params)
            except xmlrpc.client.Fault as exc:
                raise fault_error(exc, f"{method} {' '.join(map(str, params))}".strip()) from exc

    def is_up(self) -> bool:
        """Whether supervisord answers on the socket."""
        try:
            self.call("getState")
        except SupervisorError:
            return False
        return True

    def processes(self) -> list[Process]:
        """Every process supervisord manages."""
        return [Process.from_info(i) for i in self.call("getAllProcessInfo")]

    def pid(self) -> int:
        """supervisord's own process id."""
        pid = self.call("getPID")
        if not isinstance(pid, int):
            raise SupervisorError(f"supervisord answered getPID with {pid!r}, not a process id")
        return pid

    def control(self, action: str, processes: Sequence[Process]) -> dict[str, str]:
        """Start or stop (``action``) each process, waiting for each; the outcome by name.

        Already-started (or already-stopped) processes are outcomes, not errors; the first
        other Fault is raised, a spawn error with the end of that process's log.
        """
        method = {"start": "startProcess", "stop": "stopProcess"}[action]
        results = self._multicall(method, [[p.full_name, True] for p in processes])
        outcomes: dict[str, str] = {}
        for process, result in zip(processes, results, strict=True):
            fault = _fault_from_result(result)
            if fault is None:
                outcomes[process.name] = "started" if action == "start" else "stopped"
            elif fault.faultCode in NO_OP_FAULTS:
                outcomes[process.name] = NO_OP_FAULTS[fault.faultCode]
            else:
                detail = ""
                if fault.faultCode in (SPAWN_ERROR, ABNORMAL_TERMINATION):
                    detail = "log ends: " + self._log_tail(process.full_name)
                raise fault_error(fault, f"{action} {process.name}", detail=detail) from fault
        return outcomes

    def _multicall(self, method: str, params: Sequence[list[Any]]) -> list[Any]:
        """One ``supervisor.<method>`` per params list in one request; results in order, each
        a value or a fault dict (never ``xmlrpc.client.MultiCall``: it breaks on dicts)."""
        calls = [{"methodName": f"supervisor.{method}", "params": p} for p in params]
        with self._rpc() as proxy:
            results = proxy.system.multicall(calls)
        return list(results) if isinstance(results, list) else []

    def _log_tail(self, full_name: str) -> str:
        text = self.tail(full_name, 0, SPAWN_LOG_TAIL_BYTES)[0]
        return " | ".join(line for line in text.splitlines()[-5:] if line.strip()) or "(empty)"

    def tail(self, full_name: str, offset: int, length: int) -> tuple[str, int, bool]:
        """``tailProcessStdoutLog``: (up to ``length`` bytes of text, new offset, overflow)."""
        data, new_offset, overflow = self.call("tailProcessStdoutLog", full_name, offset, length)
        return str(data), int(new_offset), bool(overflow)

    def stop_groups_nowait(self, groups: Sequence[str]) -> None:
        """Send every group its stop signal at once, without waiting (a faster shutdown)."""
        self._multicall("stopProcessGroup", [[g, False] for g in groups])

    def shutdown(self) -> None:
        """Ask supervisord to stop every process and exit."""
        self.call("shutdown")
