"""The Django security settings both projects share, with one rule for production.

``REACTIVE_PRODUCTION=1`` means served over HTTPS, behind the TLS proxy of the README's
deployment section. There:

- ``DJANGO_DEBUG=1`` is refused: a ``ConfigError`` at settings load that names the fix. Not
  silently turned off (as clients did): an operator who asked for DEBUG learns at once that
  they do not have it, and the master and the clients behave alike.
- HTTPS is the only way in: SSL redirect, HSTS (a year, subdomains included), secure cookies.
  ``check --deploy`` is then clean; HSTS preload stays the operator's choice (it commits the
  whole registrable domain), so its warning is silenced unless it is turned on.

Locally all of it is off: ``reactive up`` serves plain HTTP on loopback. Every value can be
set with the variable named beside its field. Master/settings.py and client/settings.py
assign each field to its Django setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import env_bool, env_count

#: HSTS max-age in production unless DJANGO_SECURE_HSTS_SECONDS says otherwise: one year.
PRODUCTION_HSTS_SECONDS = 365 * 24 * 3600
#: The longest HSTS max-age accepted, in seconds: two years.
MAX_HSTS_SECONDS = 2 * PRODUCTION_HSTS_SECONDS
#: Django's warning that HSTS preload is off, silenced unless DJANGO_SECURE_HSTS_PRELOAD=1.
PRELOAD_CHECK = "security.W021"

_HEADER = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True, kw_only=True)
class WebSecurity:
    """Django's DEBUG and HTTPS settings for one project."""

    debug: bool  # DJANGO_DEBUG
    ssl_redirect: bool  # DJANGO_SECURE_SSL_REDIRECT
    hsts_seconds: int  # DJANGO_SECURE_HSTS_SECONDS
    hsts_include_subdomains: bool  # DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS
    hsts_preload: bool  # DJANGO_SECURE_HSTS_PRELOAD
    #: DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto gives ("HTTP_X_FORWARDED_PROTO", "https").
    proxy_ssl_header: tuple[str, str] | None
    secure_cookies: bool  # production only
    silenced_checks: tuple[str, ...]


def web_security(env: Mapping[str, str], *, production: bool, debug: bool) -> WebSecurity:
    """The settings for ``env``; ``debug`` is DEBUG's default outside production."""
    preload = env_bool(env, "DJANGO_SECURE_HSTS_PRELOAD", default=False)
    return WebSecurity(
        debug=debug_setting(env, production=production, default=debug),
        ssl_redirect=env_bool(env, "DJANGO_SECURE_SSL_REDIRECT", default=production),
        hsts_seconds=env_count(
            env,
            "DJANGO_SECURE_HSTS_SECONDS",
            least=0,
            most=MAX_HSTS_SECONDS,
            unit="seconds",
            default=PRODUCTION_HSTS_SECONDS if production else 0,
        ),
        hsts_include_subdomains=env_bool(
            env, "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=production
        ),
        hsts_preload=preload,
        proxy_ssl_header=proxy_ssl_header(env.get("DJANGO_SECURE_PROXY_SSL_HEADER", "")),
        secure_cookies=production,
        silenced_checks=() if preload else (PRELOAD_CHECK,),
    )


def debug_setting(env: Mapping[str, str], *, production: bool, default: bool) -> bool:
    """DJANGO_DEBUG (``default`` when unset); refused with REACTIVE_PRODUCTION=1."""
    debug = env_bool(env, "DJANGO_DEBUG", default=default and not production)
    if debug and production:
        raise ConfigError(
            "DJANGO_DEBUG is on with REACTIVE_PRODUCTION=1, and debug pages show settings and "
            "code to anyone: unset DJANGO_DEBUG (or set it to 0) in production"
        )
    return debug


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """Django's SECURE_PROXY_SSL_HEADER for a header the proxy sets to ``https``; None if empty."""
    name = name.strip()
    if not name:
        return None
    if not _HEADER.fullmatch(name):
        raise ConfigError(
            f"DJANGO_SECURE_PROXY_SSL_HEADER={name!r} is not a header name: use the header "
            "your proxy sets to the request's scheme, e.g. X-Forwarded-Proto"
        )
    return ("HTTP_" + name.upper().replace("-", "_"), "https")
