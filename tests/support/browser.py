"""Debian's Chromium driven by Playwright, as every browser test launches it.

Launch it once per module (a module-scoped fixture; a fresh page or context per test), not
per test. Not once per session either: a sync Playwright left open across the suite's
asyncio tests makes them fail ("Runner.run() cannot be called from a running event loop").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright's sync API, closed on the way out."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def off_loop_thread() -> Iterator[Callable[..., Any]]:
    """A caller that runs a function on a thread of its own and returns its result: Django's
    ORM refuses to run on the thread where Playwright's event loop runs."""
    with ThreadPoolExecutor(1) as pool:
        yield lambda fn, *a, **kw: pool.submit(fn, *a, **kw).result()
