"""How a replicated user logs in to the custom client, and their open page following every
change the master makes, in Chromium on real parts: email_master saving in this process,
``names``' listener (``reactive listen``) and its web process (daphne on name_client's own
``asgi.py``), moto's server and a redis-server.

The user gets a password of their own through name_client's reset flow (its
``ReplicaPasswordResetForm``; the mail read from the file name_client's backend wrote), logs
in with their email, and keeps ``me/live/`` open while the master renames them, changes
their email (the login identity), swaps emails with another user, deactivates one and
deletes and re-creates the other. Each step is checked in the client's database too.

Run with ``-p no:django`` (``conftest.py`` sets Django up as the master).
"""

from __future__ import annotations

import email
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from devstack.processes import until
from tests.custom_pair.conftest import Pair, Web, create, delete, new_email, update
from tests.support.browser import chromium, off_loop_thread

LIVE = ".ru-live[data-state=live]"
#: Separates messages in a file of Django's file-based mail backend (written after each one).
MAIL_END = b"-" * 79 + b"\n"

#: Registered by the test page before any of its scripts: every component event, when it
#: arrived (the browser's clock, in ms).
LISTENER = """
window.__ru = [];
for (const kind of ["changed", "gone"]) {
  document.addEventListener("reactive-users:" + kind, (event) => {
    window.__ru.push({ kind, at: Date.now(), detail: event.detail });
  });
}
"""

Master = Callable[..., Any]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def master() -> Iterator[Master]:
    """Runs the master's ORM calls off the thread where Playwright's event loop runs."""
    with off_loop_thread() as call:
        yield call


class Tab:
    """One user's logged-in browser context, its ``me/live/`` page and that page's sockets."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context, self.page = context, page
        self.sockets: list[Any] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: Any) -> None:
        self.sockets.append(socket)

    def value(self, field: str) -> Any:
        return self.page.locator(f"[data-ru-field={field}] [data-ru-value]")

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.page.evaluate("window.__ru") if e["kind"] == kind]

    def wait_event(self, kind: str, field: str = "") -> dict[str, Any]:
        """The first ``kind`` event (for ``changed``: one that changed ``field``)."""
        check = f"e.kind === '{kind}'"
        if field:
            check += f" && e.detail.changed.includes('{field}')"
        self.page.wait_for_function(f"window.__ru.some((e) => {check})", timeout=15_000)
        return next(e for e in self.events(kind) if not field or field in e["detail"]["changed"])

    def wait_closed(self) -> None:
        """Every socket the page opened is closed."""
        for socket in self.sockets:
            if not socket.is_closed():
                socket.wait_for_event("close", timeout=15_000)


def reset_link(web: Web, address: str, before: set[str]) -> str:
    """The link in the reset mail to ``address`` among the files written since ``before``."""
    link = re.compile(rf"{re.escape(web.url)}/password-reset/[^/\s]+/[^/\s]+/")

    def sent() -> str | None:
        for name in sorted(set(os.listdir(web.mail_dir)) - before):
            data = (web.mail_dir / name).read_bytes()
            if not data.endswith(MAIL_END):  # still being written
                continue
            message = email.message_from_bytes(data.removesuffix(MAIL_END))
            if message["To"] == address:
                body = message.get_payload(decode=True)
                assert isinstance(body, bytes)
                found = link.search(body.decode())
                assert found, body
                return found.group()
        return None

    return until(sent, timeout=15, what=f"the reset mail to {address}")


def log_in_through_reset(browser: Browser, web: Web, address: str, password: str) -> Tab:
    """What a replicated user does the first time: asks for a reset from the login page,
    follows the mailed link, sets a password, logs in with their email; ends on me/live/."""
    context = browser.new_context()
    context.add_init_script(LISTENER)
    tab = Tab(context, context.new_page())
    page = tab.page
    page.goto(f"{web.url}/me/live/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_role("link", name="Forgot your password?").click()
    before = set(os.listdir(web.mail_dir))
    page.fill("input[name=email]", address)
    page.click("[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your email")

    page.goto(reset_link(web, address, before))
    expect(page.locator("h1")).to_have_text("Set your password")
    page.fill("input[name=new_password1]", password)
    page.fill("input[name=new_password2]", password)
    page.click("[type=submit]")
    expect(page.locator("h1")).to_have_text("Password set")

    page.get_by_role("link", name="log in").click()
    assert log_in(page, web, address, password)
    page.get_by_role("link", name="My account").click()
    page.wait_for_url(f"{web.url}/me/live/")
    page.wait_for_selector(LIVE, timeout=15_000)
    return tab


def log_in(page: Page, web: Web, address: str, password: str) -> bool:
    """Submit name_client's login form; whether it let the user in (to the home page)."""
    page.fill("input[name=username]", address)  # Django's login form names it so
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_selector(".errorlist, h1:text-matches('^Hello')")
    return page.url == f"{web.url}/"


def logs_in(browser: Browser, web: Web, address: str, password: str) -> bool:
    """Whether name_client's login page, in a fresh browser, lets ``address`` in."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{web.url}/login/")
    entered = log_in(page, web, address, password)
    context.close()
    return entered


def still_logged_in(tab: Tab, web: Web) -> bool:
    """Whether the tab's session still opens ``me/live/`` (a new page, the same cookies)."""
    page = tab.context.new_page()
    page.goto(f"{web.url}/me/live/")
    opened = page.url == f"{web.url}/me/live/"
    page.close()
    return opened


def test_a_replicated_user_sets_a_password_logs_in_and_the_open_page_follows_the_master(
    pair: Pair, names_web: Web, browser: Browser, master: Master
) -> None:
    web = names_web
    # Given a user signed up on the master, replicated to names without a usable password
    ana_email, ana_password = new_email("ana"), "ana-own-Passw0rd"
    ana = master(create, ana_email, "Ana Silva")
    first = pair.wait_user("names", ana, email=ana_email, full_name="Ana Silva", is_active=1)

    # When she sets a password through names' reset flow and logs in with her email
    tab = log_in_through_reset(browser, web, ana_email, ana_password)
    # Then her page shows her fields under names' labels, live
    expect(tab.page.locator("[data-ru-field=full_name] dt")).to_have_text("Full name")
    expect(tab.value("full_name")).to_have_text("Ana Silva")
    expect(tab.value("email")).to_have_text(ana_email)

    # When the master renames her, the open page and the page's own listener follow
    saved_at = time.time()
    master(update, ana, name="Ana Souza")
    expect(tab.value("full_name")).to_have_text("Ana Souza", timeout=15_000)
    renamed = tab.wait_event("changed", "full_name")
    assert renamed["detail"]["fields"]["full_name"] == "Ana Souza"
    print(
        f"\ncustom pair: master save -> page changed event {renamed['at'] - saved_at * 1000:.0f} ms"
    )
    pair.wait_user("names", ana, full_name="Ana Souza", id=first["id"])

    # When the master changes her email (her login identity on names too)
    work_email = new_email("ana.work")
    saved_at = time.time()
    master(update, ana, email=work_email)
    expect(tab.value("email")).to_have_text(work_email, timeout=15_000)
    moved = tab.wait_event("changed", "email")
    print(f"custom pair: email change -> page changed event {moved['at'] - saved_at * 1000:.0f} ms")
    pair.wait_user("names", ana, email=work_email, id=first["id"])
    # Then she stays logged in (her session hangs on her password, which did not change),
    # her page stays live, and she logs in next time with the new email only
    expect(tab.page.locator(".ru-live")).to_have_attribute("data-state", "live")
    assert tab.events("gone") == []
    assert still_logged_in(tab, web)
    assert not logs_in(browser, web, ana_email, ana_password)
    assert logs_in(browser, web, work_email, ana_password)

    # Given Bob, replicated and logged in the same way, with his own page open
    bob_email = new_email("bob")
    bob = master(create, bob_email, "Bob")
    bob_row = pair.wait_user("names", bob, email=bob_email)
    bob_tab = log_in_through_reset(browser, web, bob_email, "bob-own-Passw0rd")

    # When the two swap emails on the master (through a spare: its emails are unique)
    master(update, ana, email=new_email("spare"))
    master(update, bob, email=work_email)
    master(update, ana, email=bob_email)
    # Then each page ends with its own user's new email, the same local users
    expect(tab.value("email")).to_have_text(bob_email, timeout=15_000)
    expect(bob_tab.value("email")).to_have_text(work_email, timeout=15_000)
    pair.wait_user("names", ana, email=bob_email, id=first["id"])
    pair.wait_user("names", bob, email=work_email, id=bob_row["id"])
    assert tab.events("gone") == bob_tab.events("gone") == []
    assert still_logged_in(tab, web) and still_logged_in(bob_tab, web)

    # When the master deactivates Bob: his page is told he is gone, its socket closed
    master(update, bob, is_active=False)
    assert bob_tab.wait_event("gone")["detail"]["reason"] == "deactivated"
    bob_tab.wait_closed()
    expect(bob_tab.page.locator(".ru-live")).to_have_attribute("data-state", "offline")
    pair.wait_user("names", bob, is_active=0, id=bob_row["id"])
    assert not still_logged_in(bob_tab, web)  # Django refuses an inactive user's session

    # When the master deletes Ana, her page is told so; her local user goes
    master(delete, ana)
    assert tab.wait_event("gone")["detail"]["reason"] == "deleted"
    tab.wait_closed()
    pair.wait_user("names", ana, tombstone=1, id=None)

    # When someone signs up again with the same email: a new master id, a new local user
    again = master(create, bob_email, "Ana again")
    assert again != ana
    reborn = pair.wait_user("names", again, email=bob_email, full_name="Ana again")
    assert reborn["id"] != first["id"]
    # Then the old session opens nothing of the new user's, nor does the old password
    assert not still_logged_in(tab, web)
    assert not logs_in(browser, web, bob_email, ana_password)
    # ...a new identity sets a password of its own, and sees its own fields
    again_tab = log_in_through_reset(browser, web, bob_email, "again-own-Passw0rd")
    expect(again_tab.value("full_name")).to_have_text("Ana again")
    expect(again_tab.value("email")).to_have_text(bob_email)

    for t in (tab, bob_tab, again_tab):
        t.context.close()
