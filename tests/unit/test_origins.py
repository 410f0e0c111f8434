"""Websocket origins (reactive_users/client/origins.py): exact matches after normalising, pure."""

from __future__ import annotations

import pytest

from reactive_users.client.origins import is_allowed, normalise, parse_allowed
from reactive_users.core.errors import ConfigError


@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("http://localhost:8001", "http://localhost:8001"),
        ("HTTP://LOCALHOST:8001", "http://localhost:8001"),
        ("http://localhost:80", "http://localhost"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("https://shop.example.com:80", "https://shop.example.com:80"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        (" https://Shop.Example.com ", "https://shop.example.com"),
    ],
)
def test_an_origin_is_normalised_by_case_and_default_port(origin, normal):
    assert normalise(origin) == normal


@pytest.mark.parametrize(
    "origin",
    [
        "localhost",
        "localhost:8001",
        "shop.example.com",
        "null",
        "",
        "*",
        "ws://localhost",
        "ftp://localhost",
        "http://",
        "http://localhost/",
        "http://localhost/path",
        "http://localhost?x=1",
        "http://localhost#f",
        "http://user@localhost",
        "http://localhost:99999",
        "http://localhost:8001.evil.example",
        "http://[::1",
    ],
)
def test_anything_but_an_http_origin_is_none(origin):
    assert normalise(origin) is None


def test_the_allowed_list_is_normalised_and_deduplicated():
    entries = ["https://Shop.example.com:443", "https://shop.example.com", "http://localhost:8001"]

    assert parse_allowed(entries) == ("https://shop.example.com", "http://localhost:8001")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "localhost",
            "'localhost' has no scheme, and so would match any scheme and port: "
            "write it as http://localhost or https://localhost",
        ),
        ("shop.example.com", "write it as http://shop.example.com or https://shop.example.com"),
        ("localhost:8001", "write it as http://localhost:8001 or https://localhost:8001"),
        ("*", "no wildcards"),
        ("https://*.example.com", "no wildcards"),
        (".example.com", "no wildcards"),
        ("https://shop.example.com/", "is not an http(s) origin"),
        ("ws://shop.example.com", "is not an http(s) origin"),
    ],
)
def test_an_entry_that_is_no_exact_origin_is_refused_with_the_fix(entry, message):
    with pytest.raises(ConfigError, match="REACTIVE_ALLOWED_ORIGINS entry") as info:
        parse_allowed(["https://ok.example.com", entry])
    assert message in str(info.value)


ALLOWED = parse_allowed(["http://localhost:8001", "https://shop.example.com"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8001", True),
        ("HTTP://LOCALHOST:8001", True),
        ("https://shop.example.com:443", True),
        ("HTTP://LOCALHOST", False),  # the finding: a bare pattern matched any port
        ("http://127.0.0.1:9999", False),
        ("https://127.0.0.1", False),
        ("https://localhost:8001", False),
        ("http://localhost:8002", False),
        ("http://shop.example.com", False),
        ("https://shop.example.com:8443", False),
        ("https://evil.shop.example.com", False),
        ("https://shop.example.com.evil.example", False),
        ("null", False),
        (None, False),
    ],
)
def test_an_origin_is_allowed_only_if_it_is_exactly_one_of_the_list(origin, allowed):
    assert is_allowed(origin, ALLOWED) is allowed
