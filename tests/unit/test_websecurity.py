"""One rule for DEBUG and HTTPS in both projects: refused DEBUG and HTTPS-only in production."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reactive_users.core import exitcodes
from reactive_users.core.errors import ConfigError
from reactive_users.core.websecurity import PRODUCTION_HSTS_SECONDS, proxy_ssl_header, web_security
from tests.support import security

#: What every production settings load needs besides the variables under test.
PRODUCTION = {
    "REACTIVE_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": "a-production-secret-key-of-fifty-characters-or-more-0123456789",
    "REACTIVE_ALLOWED_ORIGINS": "https://shop.example.com",
    "REACTIVE_SIGNING_KEYS": "k1:" + base64.b64encode(b"a-production-signing-key-of-32b!").decode(),
}
REFUSAL = (
    "ConfigError: DJANGO_DEBUG is on with REACTIVE_PRODUCTION=1, and debug pages show settings "
    "and code to anyone: unset DJANGO_DEBUG (or set it to 0) in production"
)


def manage(project: str, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m PROJECT ARGS`` with only PATH, the checkout on PYTHONPATH (the reference
    projects are not installed), a private state dir and ``env``."""
    environ = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "REACTIVE_STATE_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", project, *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("project", ["master", "client"])
def test_both_projects_refuse_debug_in_production_with_one_line_naming_the_fix(project, tmp_path):
    ran = manage(project, tmp_path, "check", **PRODUCTION, DJANGO_DEBUG="1")

    observed = f"exit {ran.returncode}: {ran.stderr.strip()}"
    security.record(
        area="deployment: settings",
        attack=f"{project} started with REACTIVE_PRODUCTION=1 DJANGO_DEBUG=1",
        expected=f"exit {exitcodes.USAGE}: {REFUSAL}",
        observed=observed,
    )
    assert observed == f"exit {exitcodes.USAGE}: {REFUSAL}"


@pytest.mark.parametrize("project", ["master", "client"])
def test_both_projects_run_production_with_debug_off_and_https_enforced(project, tmp_path):
    code = (
        "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    ran = manage(project, tmp_path, "shell", "-v", "0", "-c", code, **PRODUCTION, DJANGO_DEBUG="0")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["False", "True", str(PRODUCTION_HSTS_SECONDS), "True", "True"]


def test_locally_debug_follows_each_projects_default_and_https_is_off():
    master = web_security({}, production=False, debug=True)
    client = web_security({"DJANGO_DEBUG": "1"}, production=False, debug=False)

    assert (master.debug, client.debug) == (True, True)
    assert web_security({}, production=False, debug=False).debug is False
    assert (master.ssl_redirect, master.hsts_seconds, master.secure_cookies) == (False, 0, False)


def test_production_hsts_preload_is_the_operators_choice_and_only_then_unsilenced():
    default = web_security({}, production=True, debug=False)
    chosen = web_security({"DJANGO_SECURE_HSTS_PRELOAD": "1"}, production=True, debug=False)

    assert (default.hsts_include_subdomains, default.hsts_preload) == (True, False)
    assert default.silenced_checks == ("security.W021",)
    assert (chosen.hsts_preload, chosen.silenced_checks) == (True, ())


def test_a_proxy_header_is_a_header_name_that_the_proxy_sets_to_https():
    assert proxy_ssl_header("X-Forwarded-Proto") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("") is None
    with pytest.raises(ConfigError, match="is not a header name: use the header"):
        proxy_ssl_header("X-Forwarded-Proto: https")


def test_an_hsts_age_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="must be within 0..63072000 seconds"):
        web_security({"DJANGO_SECURE_HSTS_SECONDS": "-1"}, production=True, debug=False)
