"""Real processes for tests: start on a free port, wait until ready, always stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

# One definition of each port check, the local stack's; re-exported for the tests.
from reactive_cli.localstack.ports import free_port as free_port
from reactive_cli.localstack.ports import port_open as port_open

T = TypeVar("T")


def until(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    what: str = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the condition may raise until it holds
            last_error = e
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            waited = what or repr(predicate)
            raise AssertionError(f"timed out after {timeout}s waiting for {waited}{detail}")
        time.sleep(interval)


class Proc:
    """A child process whose output goes to a log file, stopped by its own PID."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0, grace: float = 2.0) -> int | None:
        """SIGTERM; after ``grace`` s a second SIGTERM (a listener then stops at once, not
        after its long poll); SIGKILL the process group after ``timeout``; the exit code."""
        for wait in (grace, timeout):
            if not self.alive():
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(wait)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def stop_at_once(self, acknowledged: str, *, grace: float = 2.0) -> int | None:
        """SIGTERM, and the second SIGTERM as soon as the log shows ``acknowledged`` after
        the first (a listener then abandons its long poll instead of finishing it), or after
        ``grace`` s without it; then as ``stop``. The exit code."""
        if self.alive():
            offset = self.log_path.stat().st_size
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

            def taken() -> bool:
                if not self.alive():
                    return True
                with self.log_path.open("rb") as log:
                    log.seek(offset)
                    return acknowledged in log.read().decode(errors="replace")

            with contextlib.suppress(AssertionError):
                until(taken, timeout=grace, interval=0.02, what=f"{self.name} to take SIGTERM")
        return self.stop(grace=0)

    def wait_ready(self, ready: Callable[[], object], timeout: float = 30.0) -> None:
        """Wait until ``ready()`` holds; fail with the log tail if the process died first."""

        def check() -> object:
            if not self.alive():
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}"
                )
            return ready()

        try:
            until(check, timeout=timeout, interval=0.05, what=f"{self.name} to be ready")
        except AssertionError as e:
            if self.alive():
                tail = self.log()[-3000:]
                raise AssertionError(f"{self.name} not ready in {timeout}s:\n{tail}") from e
            raise


def concurrently(calls: Iterable[Callable[[], object]]) -> None:
    """Run each call in a thread of its own and wait for all (stopping processes side by
    side instead of one after another); the first exception a call raised is raised."""
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextlib.contextmanager
def running(
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    ready: Callable[[], object],
    timeout: float = 30.0,
) -> Iterator[Proc]:
    """Start a process, wait until ready, yield it, and stop it whatever happens."""
    proc = Proc(name, argv, env, log_dir)
    try:
        proc.wait_ready(ready, timeout)
        yield proc
    finally:
        proc.stop()


#: Runs argv[1:] with SIGINT ignored, as a shell without job control starts a background job.
_IGNORE_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def sigint_ignored(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT ignored (inherited through exec; same PID), as by
    ``nohup cmd &``: Python then installs no KeyboardInterrupt handler of its own."""
    return [sys.executable, "-c", _IGNORE_SIGINT, *argv]


def python(*args: str) -> list[str]:
    """An argv running this interpreter (the project's virtualenv)."""
    return [sys.executable, *args]
