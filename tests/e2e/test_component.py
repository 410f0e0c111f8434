"""The live component (``{% reactive_user_fields %}``) in Chromium, on real parts: the
reference client under daphne, and a project of a user's own (name_client) mounting it
under a prefix (the "me" stream under daphne and uvicorn: ``test_asgi_servers.py``)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack import master_ops
from devstack.client_app import wait_for_replica
from devstack.processes import until
from devstack.project_app import ProjectApp, start_project
from devstack.stack import Stack
from tests.e2e.conftest import unique
from tests.support.browser import chromium, off_loop_thread

PASSWORD = "component-pass-1"
LIVE = ".ru-live[data-state=live]"

#: Registered by the test page before any of its scripts: every component event, with the
#: time it arrived and whether the changed field was highlighted at that moment.
LISTENER = """
window.__ru = [];
for (const kind of ["changed", "gone", "status"]) {
  document.addEventListener("reactive-users:" + kind, (event) => {
    const highlighted = [...event.target.querySelectorAll(".ru-changed")]
      .map((element) => element.dataset.ruField);
    window.__ru.push({ kind, at: Date.now(), detail: event.detail, highlighted });
  });
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def other_thread() -> Iterator[Callable[..., Any]]:
    """Runs master ORM calls off the thread where Playwright's event loop runs."""
    with off_loop_thread() as call:
        yield call


def value(field: str) -> str:
    return f"[data-ru-field={field}] [data-ru-value]"


def events(page: Page, kind: str) -> list[dict[str, Any]]:
    return [e for e in page.evaluate("window.__ru") if e["kind"] == kind]


def test_the_component_shows_a_change_live_reconnects_and_tells_the_page_by_dom_events(
    stack: Stack, browser: Browser, other_thread
):
    shop = stack.clients["shop"]
    name = unique("ada")
    uid = other_thread(master_ops.create_user, name, first_name="Ada")
    other_thread(wait_for_replica, shop, uid, username=name)
    other_thread(shop.set_password, name, PASSWORD)

    # Given the user's page open, a listener of the page's own on the component's events
    context = browser.new_context()
    context.add_init_script(LISTENER)
    page = context.new_page()
    page.goto(f"{shop.url}/accounts/login/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url(f"{shop.url}/")
    page.wait_for_selector(LIVE, timeout=15_000)
    expect(page.locator("[data-ru-status]")).to_have_text("Live")
    assert page.get_attribute(".ru-live", "data-ws-url") == "/ws/users/me/"
    start_version = int(page.get_attribute(".ru-live", "data-version") or "0")

    # When the master saves a new first name
    saved_at = time.time()
    other_thread(master_ops.update_user, uid, first_name="Ada Lovelace")

    # Then the component shows it, highlighted, and the page's listener is told
    expect(page.locator(value("first_name"))).to_have_text("Ada Lovelace", timeout=10_000)
    page.wait_for_function("window.__ru.some((e) => e.kind === 'changed')")
    [changed] = events(page, "changed")
    assert changed["detail"]["changed"] == ["first_name"]
    assert changed["detail"]["fields"]["first_name"] == "Ada Lovelace"
    assert changed["detail"]["version"] > start_version
    assert changed["highlighted"] == ["first_name"]
    print(f"\nmaster save -> component changed event: {changed['at'] - saved_at * 1000:.0f} ms")

    # When the client's daphne goes away, it says it is reconnecting; a change lands meanwhile
    assert shop.daphne is not None
    shop.daphne.stop()
    page.wait_for_selector(".ru-live[data-state=reconnecting]", timeout=15_000)
    status = page.locator("[data-ru-status]").inner_text()
    assert re.fullmatch(r"Reconnecting in \d+ s…", status), status
    other_thread(master_ops.update_user, uid, first_name="Augusta Ada")
    other_thread(wait_for_replica, shop, uid, first_name="Augusta Ada")

    # Then after daphne restarts it is live again with the current state, and says so
    shop.start_daphne()
    page.wait_for_selector(LIVE, timeout=20_000)
    expect(page.locator(value("first_name"))).to_have_text("Augusta Ada", timeout=10_000)
    assert events(page, "changed")[-1]["detail"]["fields"]["first_name"] == "Augusta Ada"
    states = [e["detail"]["state"] for e in events(page, "status")]
    assert states.index("reconnecting") < len(states) - 1 - states[::-1].index("live")

    # When the master deactivates the user, the page's listener hears it is gone
    other_thread(master_ops.update_user, uid, is_active=False)
    page.wait_for_function("window.__ru.some((e) => e.kind === 'gone')", timeout=15_000)
    assert [e["detail"]["reason"] for e in events(page, "gone")] == ["deactivated"]
    assert page.get_attribute(".ru-live", "data-state") == "offline"
    expect(page.locator("[data-ru-gone]")).to_have_text("Signed out: this account was deactivated")
    context.close()


#: name_client's own settings, mapping the reference master's first name to its full name.
NAME_SETTINGS = """from tests.projects.name_client.settings import *  # noqa: F403
REACTIVE_FIELD_MAP = {"first_name": "full_name", "email": "email", "is_active": "is_active"}
# The listener says when it is listening (what the fixture waits for).
LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"reactive_users": {"handlers": ["stderr"], "level": "INFO"}},
}
"""


@pytest.fixture(scope="module")
def names(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectApp]:
    """name_client under daphne with its listener, on the e2e stack's topic and Redis."""
    folder: Path = tmp_path_factory.mktemp("names")
    (folder / "names_on_stack.py").write_text(NAME_SETTINGS)
    app = start_project(
        stack.settings,
        stack.workdir,
        name="names",
        settings_module="names_on_stack",
        application="tests.projects.name_client.asgi:application",
        python_path=(folder,),
        extra_env={"NAME_CLIENT_DB": str(folder / "names.sqlite3")},
    )
    try:
        yield app
    finally:
        app.stop()


def names_user(app: ProjectApp, email: str) -> dict[str, Any] | None:
    with sqlite3.connect(f"file:{app.db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM accounts_user WHERE email = ?", (email,)).fetchone()
        return dict(row) if row else None


def test_a_project_of_its_own_shows_the_component_under_its_prefix_with_its_labels(
    names: ProjectApp, browser: Browser, other_thread
):
    email = f"{unique('kay')}@example.com"
    uid = other_thread(master_ops.create_user, unique("kay"), email=email, first_name="Kay")
    until(lambda: names_user(names, email), timeout=20, what="the user in name_client")
    code = (
        "from django.contrib.auth import get_user_model; "
        f"u = get_user_model().objects.get(email={email!r}); "
        f"u.set_password({PASSWORD!r}); u.save()"
    )
    names.manage("shell", "-c", code)

    # Given the user logged in with the project's own email login, on its component page
    context = browser.new_context()
    context.add_init_script(LISTENER)
    page = context.new_page()
    page.goto(f"{names.url}/me/live/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url(f"{names.url}/me/live/")
    page.wait_for_selector(LIVE, timeout=15_000)

    # Then it renders inside the project's base template, under its labels and prefix
    assert page.locator("#names-nav").count() == 1
    assert page.get_attribute(".ru-live", "data-ws-url") == "/me/live/ws/users/me/"
    expect(page.locator("[data-ru-field=full_name] dt")).to_have_text("Full name")
    expect(page.locator(value("full_name"))).to_have_text("Kay")
    expect(page.locator("[data-ru-field=email] dt")).to_have_text("Email address")
    # The project's own CSS wins over the component's, whatever the order
    variant = page.eval_on_selector(".ru-label", "e => getComputedStyle(e).fontVariantCaps")
    assert variant == "small-caps"

    # When the master renames the user, the component shows it live, by the project's name
    saved_at = time.time()
    other_thread(master_ops.update_user, uid, first_name="Kay Sage")
    expect(page.locator(value("full_name"))).to_have_text("Kay Sage", timeout=10_000)
    page.wait_for_function("window.__ru.some((e) => e.kind === 'changed')")
    [changed] = events(page, "changed")
    assert changed["detail"]["changed"] == ["full_name"]
    assert changed["detail"]["fields"]["full_name"] == "Kay Sage"
    print(f"\nname_client: master save -> changed event {changed['at'] - saved_at * 1000:.0f} ms")
    context.close()
