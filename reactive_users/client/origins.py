"""Websocket origins: parse the allowed list, normalise an Origin header, match exactly. Pure.

An origin is ``scheme://host[:port]`` (RFC 6454) with the scheme ``http`` or ``https``.
Normalised: scheme and host lower-cased, the scheme's default port (http 80, https 443)
left out, IPv6 hosts in brackets. An Origin header is allowed only if its normalised form
is one of the normalised allowed origins: no pattern, no wildcard, no subdomain, and an
entry without a scheme is refused when the settings load (it used to match any scheme and
any port of that host, so any page on another port of the same host could open a stream).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from reactive_users.core.errors import ConfigError

#: The schemes a page can have, and the port each means when none is given.
DEFAULT_PORTS = {"http": 80, "https": 443}
#: The setting the allowed origins come from (named in error messages).
SETTING = "REACTIVE_ALLOWED_ORIGINS"
#: A host as a browser sends it: a (punycode) name or IPv4 address, or an IPv6 address.
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")


def normalise(origin: str) -> str | None:
    """The normal form of ``origin``, or None if it is no ``http(s)://host[:port]`` origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:  # a port out of range, or an unbalanced IPv6 bracket
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS or not host or not _HOST.fullmatch(host):
        return None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"


def parse_allowed(entries: Iterable[str]) -> tuple[str, ...]:
    """The normalised allowed origins; ``ConfigError`` naming the first bad entry and the fix."""
    allowed: list[str] = []
    for entry in entries:
        found = normalise(entry)
        if found is None:
            raise ConfigError(_why_not(entry))
        if found not in allowed:
            allowed.append(found)
    return tuple(allowed)


def is_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether an Origin header's value (None: no header) is exactly one of ``allowed``."""
    if origin is None:
        return False
    found = normalise(origin)
    return found is not None and found in allowed


def _why_not(entry: str) -> str:
    fix = "write each origin as scheme://host[:port], e.g. https://shop.example.com"
    if "*" in entry or entry.strip().startswith("."):
        return f"{SETTING} entry {entry!r}: no wildcards or subdomain patterns: {fix}"
    if "://" not in entry:
        host = entry.strip().rstrip("/")
        return (
            f"{SETTING} entry {entry!r} has no scheme, and so would match any scheme and "
            f"port: write it as http://{host} or https://{host} (add :PORT unless it is 80 "
            "or 443)"
        )
    return f"{SETTING} entry {entry!r} is not an http(s) origin (no path, no user): {fix}"
