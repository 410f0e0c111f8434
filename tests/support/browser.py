"""Debian's Chromium driven by Playwright, as every browser test launches it.

Launch it once per module (a module-scoped fixture; a fresh page or context per test), not
per test. Not once per session either: a sync Playwright left open across the suite's
asyncio tests makes them fail ("Runner.run() cannot be called from a running event loop").
"""

from __future__ import annotations

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
