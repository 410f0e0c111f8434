"""Settings of a client Django project: one module, run once per client with its own env.

Every value comes from the environment with an explicit default; the parts every component
shares (prefix, Redis, AWS endpoint, user fields, secret key, database) come from
``reactive_users.core.settings``. Local defaults are safe on loopback only; REACTIVE_PRODUCTION=1
makes the unsafe ones mandatory.

REACTIVE_CHANNEL_LAYER_MAX_CONNECTIONS (default 2000) sizes each process's channel-layer
pool of Redis connections: at least the sockets one daphne holds, since a storm of
handshakes or closes asks for one connection per socket at once.

REACTIVE_ALLOWED_ORIGINS lists the exact origins (``scheme://host[:port]``) a browser socket
may come from; REACTIVE_WS_MAX_SOCKETS_PER_USER caps one user's sockets per daphne process;
REACTIVE_WS_RECHECK_SECONDS is how often an open socket checks that its credentials still
hold (``reactive_users/client/credentials.py``).
REACTIVE_OVERSIZE_POLICY (refuse, the default, or truncate) says what the listener does with
a replicated text value longer than this client stores; REACTIVE_FIELD_MAX_LENGTHS
(``first_name=30,...``) sets limits below the model's own (reactive_users/client/limits.py).
REACTIVE_LISTENER_VISIBILITY_SECONDS (default 10) is how long a received batch stays
invisible to other listeners, extended while it is applied: what a killed listener costs.
REACTIVE_LISTENER_NOTIFY_BACKLOG (default 1000) bounds the socket frames a listener keeps
waiting while the channel layer does not answer (reactive_users/client/listener/notifier.py).
REACTIVE_FIELD_MAP (``name=full_name,email=email``) maps master fields to this client's user
fields; unset, the stock fields map to themselves (reactive_users/client/fieldmap.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from reactive_users.client import origins, tuning
from reactive_users.client.limits import parse_max_lengths, parse_policy
from reactive_users.core import naming
from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import (
    Settings,
    database,
    env_bool,
    env_count,
    env_list,
    secret_key,
    signing_keys,
    static_root,
)
from reactive_users.core.websecurity import web_security

_env = os.environ

#: The settings shared with the master and the CLI (prefix, Redis, AWS, user fields).
REACTIVE_SETTINGS = Settings.from_env()
# The keys events are signed with (not SECRET_KEY): in production, none set refuses to start.
signing_keys(REACTIVE_SETTINGS)
#: This client's name ("shop", "blog", ...): names its queue, database and channel prefix.
REACTIVE_CLIENT = naming.check_client_name(_env.get("REACTIVE_CLIENT", "shop"))
#: The SQS queue the listener reads; None means "resolve it by name" when listening.
REACTIVE_QUEUE_URL: str | None = _env.get("REACTIVE_QUEUE_URL") or None

PRODUCTION = REACTIVE_SETTINGS.production
#: DEBUG (off unless DJANGO_DEBUG=1, refused in production) and HTTPS in production: one rule
#: for master and clients (reactive_users/core/websecurity.py).
WEB = web_security(_env, production=PRODUCTION, debug=False)
DEBUG = WEB.debug
SECRET_KEY = secret_key(_env, REACTIVE_SETTINGS, f"client-{REACTIVE_CLIENT}")


def _allowed_hosts() -> list[str]:
    hosts = env_list(_env, "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
    if "*" in hosts:
        raise ConfigError("DJANGO_ALLOWED_HOSTS may not contain '*': list the real host names")
    return hosts


#: Origins allowed when REACTIVE_ALLOWED_ORIGINS is unset (never in production): the first
#: client of the local stack and of the README's by-hand run; `reactive up` and the tests
#: give each client its own.
_LOCAL_ORIGINS = ["http://127.0.0.1:8001", "http://localhost:8001"]


def _allowed_origins() -> list[str]:
    """Websocket origins, each exactly ``scheme://host[:port]``
    (``reactive_users/client/origins.py``)."""
    if PRODUCTION and "REACTIVE_ALLOWED_ORIGINS" not in _env:
        raise ConfigError("REACTIVE_ALLOWED_ORIGINS must be set when REACTIVE_PRODUCTION=1")
    return list(origins.parse_allowed(env_list(_env, "REACTIVE_ALLOWED_ORIGINS", _LOCAL_ORIGINS)))


def _log_level() -> str:
    level = _env.get("REACTIVE_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"REACTIVE_LOG_LEVEL={level!r} is not a logging level")
    return level


def _ws_token_seconds() -> int:
    """Lifetime of a websocket stream token (reactive_users/client/tokens.py): short, never zero."""
    return env_count(
        _env, "REACTIVE_WS_TOKEN_SECONDS", default=300, least=1, most=86400, unit="seconds"
    )


def _ws_max_sockets_per_user() -> int:
    """Sockets one user may hold open on one daphne process; the next is closed with 4429."""
    return env_count(
        _env,
        "REACTIVE_WS_MAX_SOCKETS_PER_USER",
        default=20,
        least=1,
        most=10_000,
        unit="sockets",
    )


def _ws_recheck_seconds() -> int:
    """How often an open socket checks its credentials (session, token) still hold."""
    return env_count(
        _env, "REACTIVE_WS_RECHECK_SECONDS", default=5, least=1, most=3600, unit="seconds"
    )


def _channel_layer_max_connections() -> int:
    """Redis connections one process's channel layer may hold: 1,100 sockets and room to
    spare; at least 10, as the blocking receive alone holds one for seconds at a time."""
    return env_count(
        _env,
        "REACTIVE_CHANNEL_LAYER_MAX_CONNECTIONS",
        default=2000,
        least=10,
        most=100_000,
        unit="connections",
    )


def _listener_visibility_seconds() -> int:
    """The visibility timeout the listener receives with (reactive_users/client/tuning.py)."""
    return env_count(
        _env,
        "REACTIVE_LISTENER_VISIBILITY_SECONDS",
        default=tuning.DEFAULT_VISIBILITY_SECONDS,
        least=tuning.MIN_VISIBILITY_SECONDS,
        most=tuning.MAX_VISIBILITY_SECONDS,
        unit="seconds",
    )


def _listener_notify_backlog() -> int:
    """Frames the listener keeps waiting for the channel layer (reactive_users/client/tuning.py)."""
    return env_count(
        _env,
        "REACTIVE_LISTENER_NOTIFY_BACKLOG",
        default=tuning.DEFAULT_NOTIFY_BACKLOG,
        least=tuning.MIN_NOTIFY_BACKLOG,
        most=tuning.MAX_NOTIFY_BACKLOG,
        unit="frames",
    )


#: channels-redis blocks its receive (BZPOPMIN) this long in Redis, in seconds (5).
_RECEIVE_BLOCK_SECONDS = RedisChannelLayer.brpop_timeout


#: Our loggers log at REACTIVE_LOG_LEVEL; libraries (botocore, daphne...) at INFO or above.
_LEVEL = _log_level()
_LIBRARY_LEVEL = max(logging.getLevelNamesMapping()[_LEVEL], logging.INFO)


ALLOWED_HOSTS = _allowed_hosts()
REACTIVE_ALLOWED_ORIGINS = _allowed_origins()
CSRF_TRUSTED_ORIGINS = env_list(_env, "DJANGO_CSRF_TRUSTED_ORIGINS", [])
#: Seconds a stream token from /account/live/stream-token/ opens sockets for (scripts, apps).
REACTIVE_WS_TOKEN_SECONDS = _ws_token_seconds()
#: Sockets of one user per daphne process; past it a socket is closed with code 4429.
REACTIVE_WS_MAX_SOCKETS_PER_USER = _ws_max_sockets_per_user()
#: Seconds between an open socket's checks of its credentials (the backstop: logout and a
#: password change close it at once, an expiry at its time).
REACTIVE_WS_RECHECK_SECONDS = _ws_recheck_seconds()
#: The channel layer's pool size per process: at least the sockets one daphne holds.
REACTIVE_CHANNEL_LAYER_MAX_CONNECTIONS = _channel_layer_max_connections()
#: A replicated text value longer than this client stores: "refuse" it (the event goes to
#: the dead-letter queue naming the field) or "truncate" it (stored cut, and counted).
REACTIVE_OVERSIZE_POLICY = parse_policy(
    "REACTIVE_OVERSIZE_POLICY", _env.get("REACTIVE_OVERSIZE_POLICY")
)
#: Limits on replicated text fields below the model's max_length ({"first_name": 30}).
REACTIVE_FIELD_MAX_LENGTHS = parse_max_lengths(
    "REACTIVE_FIELD_MAX_LENGTHS", _env.get("REACTIVE_FIELD_MAX_LENGTHS")
)
#: The listener's visibility timeout on receive, in seconds (extended while it applies).
REACTIVE_LISTENER_VISIBILITY_SECONDS = _listener_visibility_seconds()
#: Socket frames the listener keeps waiting for the channel layer at most.
REACTIVE_LISTENER_NOTIFY_BACKLOG = _listener_notify_backlog()
#: Master field -> this client's user field; None: the stock fields, each to itself.
REACTIVE_FIELD_MAP = tuning.parse_field_map("REACTIVE_FIELD_MAP", _env.get("REACTIVE_FIELD_MAP"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "reactive_users.client",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "client.urls"
ASGI_APPLICATION = "client.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own pages (base, home, login); the app's come from APP_DIRS.
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "client.context.site",
            ],
        },
    },
]

DATABASES = {"default": database(_env, REACTIVE_SETTINGS, f"client-{REACTIVE_CLIENT}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

#: Frames one daphne process may have waiting in the channel layer (all its sockets together).
CHANNEL_LAYER_CAPACITY = 5000

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # A refused or silent Redis must not hang the listener: fail fast, it logs and goes on.
            "hosts": [
                {
                    "address": REACTIVE_SETTINGS.redis_url,
                    "socket_connect_timeout": 2,
                    # An empty receive answers after _RECEIVE_BLOCK_SECONDS: redis-py's
                    # default reply timeout (5 s) is no longer, so it failed and killed the
                    # consumer of an idle socket. A silent Redis still fails within 15 s.
                    "socket_timeout": 3 * _RECEIVE_BLOCK_SECONDS,
                    # Each command holds a pooled connection for its round trip, one per
                    # consumer at a time (group_add, group_discard); past the pool's size
                    # (redis-py's default: 100) a command fails with MaxConnectionsError, so
                    # a storm of handshakes or closes needs one per socket.
                    "max_connections": REACTIVE_CHANNEL_LAYER_MAX_CONNECTIONS,
                    # A connection pooled before Redis restarted fails once: retry it on a
                    # fresh one, or the first handshake (and frame) after a restart is lost.
                    "retry": Retry(NoBackoff(), 1),
                    "retry_on_error": [RedisConnectionError],
                }
            ],
            "prefix": naming.channel_layer_prefix(REACTIVE_CLIENT),
            # channels-redis keeps every frame for one daphne's sockets in one Redis set and
            # drops a send past its capacity (default 100) without a word: a packed burst
            # applied at once sends a frame to each of a thousand sockets in a moment.
            "capacity": CHANNEL_LAYER_CAPACITY,
        },
    },
}

# Clients on one host (localhost:8001, :8002) share cookies, which ignore ports: name them.
SESSION_COOKIE_NAME = f"{REACTIVE_CLIENT}_sessionid"
CSRF_COOKIE_NAME = f"{REACTIVE_CLIENT}_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = WEB.secure_cookies
CSRF_COOKIE_SECURE = WEB.secure_cookies
SECURE_SSL_REDIRECT = WEB.ssl_redirect
SECURE_HSTS_SECONDS = WEB.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = WEB.hsts_include_subdomains
SECURE_HSTS_PRELOAD = WEB.hsts_preload
SECURE_PROXY_SSL_HEADER = WEB.proxy_ssl_header
SILENCED_SYSTEM_CHECKS = list(WEB.silenced_checks)
SESSION_COOKIE_AGE = 14 * 24 * 3600

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = static_root(_env, REACTIVE_SETTINGS, f"static-{REACTIVE_CLIENT}")
#: Serve /static/ from the ASGI app itself (one small JS file); off when a proxy serves it.
REACTIVE_SERVE_STATIC = env_bool(_env, "REACTIVE_SERVE_STATIC", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": _LIBRARY_LEVEL},
    "loggers": {
        **{name: {"level": _LEVEL} for name in ("client", "reactive_users", "reactive_cli")},
        # "Found credentials in environment variables" on every start is noise, not news.
        **{name: {"level": "WARNING"} for name in ("botocore", "boto3")},
    },
}
