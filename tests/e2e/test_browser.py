"""The page in a real Chromium: live updates without a reload, reconnect after a restart."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack import master_ops
from devstack.client_app import ClientApp, wait_for_replica
from devstack.stack import Stack
from tests.e2e.conftest import unique
from tests.support.browser import chromium, off_loop_thread

PASSWORD = "browser-pass-1"
#: The live component (``{% reactive_user_fields %}``) with its socket open, and not.
LIVE = ".ru-live[data-state=live]"
NOT_LIVE = ".ru-live:not([data-state=live])"


def value(field: str) -> str:
    """The component's element showing ``field``'s value."""
    return f"[data-ru-field={field}] [data-ru-value]"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def other_thread() -> Iterator[Callable[..., Any]]:
    """Runs master ORM calls off the thread where Playwright's event loop runs."""
    with off_loop_thread() as call:
        yield call


def log_in(page: Page, app: ClientApp, username: str) -> None:
    page.goto(f"{app.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url(f"{app.url}/")


def screenshot(page: Page, name: str) -> None:
    folder = Path(os.environ.get("REACTIVE_ARTIFACTS", "/tmp/reactive-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_page_updates_live_escapes_text_and_recovers_after_daphne_restarts(
    stack: Stack, browser: Browser, other_thread
):
    shop = stack.clients["shop"]
    name = unique("grace")
    uid = other_thread(master_ops.create_user, name, first_name="Grace")
    other_thread(wait_for_replica, shop, uid, username=name)
    other_thread(shop.set_password, name, PASSWORD)

    # Given the user logged in to the shop, the page open and its socket connected
    context = browser.new_context()
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    log_in(page, shop, name)
    page.wait_for_selector(LIVE, timeout=15_000)
    expect(page.locator(value("first_name"))).to_have_text("Grace")

    # When the master saves a new first name, the page shows it without a reload, as text
    hostile = "Hopper <img src=x onerror=alert(1)><script>window.pwned=1</script>"
    page.evaluate("window.notReloaded = true")
    other_thread(master_ops.update_user, uid, first_name=hostile)
    expect(page.locator(value("first_name"))).to_have_text(hostile, timeout=10_000)
    assert page.evaluate("window.notReloaded === true && window.pwned === undefined")
    assert page.locator(f"{value('first_name')} img, {value('first_name')} script").count() == 0
    screenshot(page, "live-update")

    # When the client's daphne goes away, the page says so; a change lands meanwhile
    assert shop.daphne is not None
    shop.daphne.stop()
    page.wait_for_selector(NOT_LIVE, timeout=15_000)
    other_thread(master_ops.update_user, uid, first_name="Grace Brewster")
    other_thread(wait_for_replica, shop, uid, first_name="Grace Brewster")

    # Then after daphne restarts the page reconnects by itself and shows the current state
    shop.start_daphne()
    page.wait_for_selector(LIVE, timeout=20_000)
    expect(page.locator(value("first_name"))).to_have_text("Grace Brewster", timeout=10_000)
    assert page.evaluate("window.notReloaded === true")
    screenshot(page, "after-reconnect")
    context.close()


#: Markup that would set a global if a browser ever parsed it as HTML.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwnedImg=1">'


def test_hostile_names_are_text_when_rendered_on_load_and_from_every_frame(
    stack: Stack, browser: Browser, other_thread
):
    shop = stack.clients["shop"]
    name = unique("mallory")
    held = f"{SCRIPT}{IMG} held"
    # Given a user whose first and last names are markup, already held when the page loads
    uid = other_thread(master_ops.create_user, name, first_name=held, last_name=IMG)
    other_thread(wait_for_replica, shop, uid, username=name, first_name=held)
    other_thread(shop.set_password, name, PASSWORD)

    context = browser.new_context()
    page = context.new_page()
    log_in(page, shop, name)
    # Then the server-rendered page and the state frame on connect show them as text
    page.wait_for_selector(LIVE, timeout=15_000)
    expect(page.locator(value("first_name"))).to_have_text(held)
    expect(page.locator(value("last_name"))).to_have_text(IMG)

    # When a change brings new markup in a "changed" frame, it is text too
    live = f"{IMG}{SCRIPT} live"
    other_thread(master_ops.update_user, uid, first_name=live)
    expect(page.locator(value("first_name"))).to_have_text(live, timeout=10_000)

    # A control: the same <img> parsed as HTML does fire; once it has, a parsed payload's
    # onerror would have fired as well (same failing URL, earlier in the page)
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', "
        "'<img hidden src=x onerror=\"window.__control=1\">')"
    )
    page.wait_for_function("window.__control === 1", timeout=10_000)
    assert page.evaluate("typeof window.__pwned + typeof window.__pwnedImg") == (
        "undefinedundefined"
    )
    assert page.locator(".ru-fields img, .ru-fields script").count() == 0
    screenshot(page, "hostile-names")
    context.close()


def test_a_page_whose_user_is_promoted_to_staff_says_so_and_stops_reconnecting(
    stack: Stack, browser: Browser, other_thread
):
    shop = stack.clients["shop"]
    name = unique("promoted")
    uid = other_thread(master_ops.create_user, name, first_name="Pat")
    other_thread(wait_for_replica, shop, uid, username=name)
    other_thread(shop.set_password, name, PASSWORD)

    # Given the user's page open and connected
    context = browser.new_context()
    page = context.new_page()
    log_in(page, shop, name)
    page.wait_for_selector(LIVE, timeout=15_000)

    # When the master makes the user staff (withdrawn from every client)
    other_thread(master_ops.update_user, uid, is_staff=True)

    # Then the page says why it was signed out, and does not try to reconnect
    page.wait_for_selector(".ru-live[data-gone=withdrawn]", timeout=15_000)
    withdrawn = "Signed out: this account is no longer shared with this site"
    expect(page.locator("[data-ru-gone]")).to_have_text(withdrawn)
    expect(page.locator("[data-ru-status]")).to_have_text(withdrawn)
    assert page.get_attribute(".ru-live", "data-state") == "offline"
    screenshot(page, "withdrawn")
    context.close()
