"""Settings of the master project: one module, read from the environment, explicit defaults.

What master, clients and the CLI share (prefix, Redis, AWS endpoint and region, topic,
user field allow-list, state dir, production flag) is read once into ``REACTIVE``, a
``reactive_users.core.settings.Settings``; the outbox services read it from there and nowhere else.

Environment (besides the shared ``reactive_users.core.settings`` variables):
    DJANGO_DEBUG                       default: on locally; refused in production
    DJANGO_SECURE_*                    HTTPS in production (reactive_users/core/websecurity.py)
    DJANGO_ALLOWED_HOSTS               default: localhost,127.0.0.1 (never "*")
    DJANGO_CSRF_TRUSTED_ORIGINS        default: none
    REACTIVE_PUBLISH_STAFF             publish staff and superusers too (default: no)
    REACTIVE_OUTBOX_SWEEP_SECONDS      how often beat runs the outbox sweep (default: 5)
    REACTIVE_OUTBOX_MIN_AGE_SECONDS    rows the sweep leaves to the relay (default: 2)
    REACTIVE_OUTBOX_RETENTION_SECONDS  sent outbox rows older than this are deleted by the
                                       sweep (reactive_users/master/retention.py; default: 7 days)
    REACTIVE_RELAY                     who publishes a commit's events: "thread" (this process's
                                       publisher thread, default) or "celery" (a relay task)
    REACTIVE_RELAY_MAX_QUEUE_DEPTH     hold publishing while a client queue holds this many
                                       messages (reactive_users/master/relay/pacing.py;
                                       default 0: never)
    REACTIVE_PUBLISH_BATCH             pack pending events into multi-event messages (default:
                                       no; upgrade every client's listener first)
    REACTIVE_PUBLISH_BATCH_BYTES       byte budget of one such message (default: 65536)
    REACTIVE_LOG_LEVEL                 default: INFO
    REACTIVE_SERVE_STATIC              serve /static/ from daphne (default: DEBUG; the local
                                       stack: on)
    REACTIVE_STATIC_ROOT               collectstatic's target is master-static in it (default:
                                       the state dir)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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

ENV = os.environ


def _env_seconds(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Read a number of seconds of at least ``minimum``, refusing anything else."""
    raw = ENV.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g} seconds")
    return value


REACTIVE = Settings.from_env()
# The keys events are signed with (not SECRET_KEY): in production, none set refuses to start.
signing_keys(REACTIVE)

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = secret_key(ENV, REACTIVE, "master")
WEB = web_security(ENV, production=REACTIVE.production, debug=True)
DEBUG = WEB.debug
ALLOWED_HOSTS = env_list(ENV, "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
if "*" in ALLOWED_HOSTS:
    raise ConfigError("DJANGO_ALLOWED_HOSTS may not contain '*': list the host names")
CSRF_TRUSTED_ORIGINS = env_list(ENV, "DJANGO_CSRF_TRUSTED_ORIGINS", [])
# HTTPS in production (reactive_users/core/websecurity.py): `check --deploy` is clean.
SECURE_SSL_REDIRECT = WEB.ssl_redirect
SECURE_HSTS_SECONDS = WEB.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = WEB.hsts_include_subdomains
SECURE_HSTS_PRELOAD = WEB.hsts_preload
SECURE_PROXY_SSL_HEADER = WEB.proxy_ssl_header
SESSION_COOKIE_SECURE = WEB.secure_cookies
CSRF_COOKIE_SECURE = WEB.secure_cookies
SILENCED_SYSTEM_CHECKS = list(WEB.silenced_checks)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "reactive_users.master",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "master.urls"
WSGI_APPLICATION = "master.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ATOMIC_REQUESTS: an admin save and the outbox row it writes commit (or roll back) together.
DATABASES: dict[str, dict[str, Any]] = {
    "default": {**database(ENV, REACTIVE, "master.sqlite3"), "ATOMIC_REQUESTS": True},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = static_root(ENV, REACTIVE, "master-static")
#: Serve /static/ from the ASGI app itself (the local stack); off when a web server in front
#: serves STATIC_ROOT (`python -m master collectstatic`), as on a VM.
REACTIVE_SERVE_STATIC = env_bool(ENV, "REACTIVE_SERVE_STATIC", default=DEBUG)

# --- Publishing user changes (the rules: reactive_users/master/changes.py) -------------------
#: Staff and superusers are not published unless this is set (their deletes neither).
REACTIVE_PUBLISH_STAFF = env_bool(ENV, "REACTIVE_PUBLISH_STAFF", default=False)
#: Seconds between two runs of the outbox sweep (Celery beat).
REACTIVE_OUTBOX_SWEEP_SECONDS = _env_seconds("REACTIVE_OUTBOX_SWEEP_SECONDS", 5.0, minimum=1.0)
#: The sweep leaves rows younger than this to the relay that their commit enqueued.
REACTIVE_OUTBOX_MIN_AGE_SECONDS = _env_seconds("REACTIVE_OUTBOX_MIN_AGE_SECONDS", 2.0)
#: Sent outbox rows recorded longer ago than this are deleted by the sweep: their bodies hold
#: users' names and emails. Pending rows and the per-user versions are kept whatever their age.
REACTIVE_OUTBOX_RETENTION_SECONDS = _env_seconds(
    "REACTIVE_OUTBOX_RETENTION_SECONDS", 7 * 24 * 3600.0
)
#: How a commit's events are published at once: "thread" (default) publishes from the
#: saving process (reactive_users/master/relay/publisher.py), no broker round trip and no
#: worker hop; "celery" enqueues a relay task on the worker (one queued at a time,
#: reactive_users/master/relay/kicks.py).
#: Either way the worker's beat sweep publishes whatever is left.
REACTIVE_RELAY = ENV.get("REACTIVE_RELAY", "thread").strip() or "thread"
if REACTIVE_RELAY not in ("celery", "thread"):
    raise ConfigError(f"REACTIVE_RELAY={REACTIVE_RELAY!r}: use 'celery' or 'thread'")
#: Most messages a relay lets wait in any client queue before it holds (0: never holds).
#: For SQS implementations that slow down as a queue deepens, like the local stack's moto;
#: reactive_users/master/relay/pacing.py. Below 20 it could not publish two batches between
#: looks.
REACTIVE_RELAY_MAX_QUEUE_DEPTH = env_count(
    ENV, "REACTIVE_RELAY_MAX_QUEUE_DEPTH", default=0, least=0, most=1_000_000, unit="messages"
)
if 0 < REACTIVE_RELAY_MAX_QUEUE_DEPTH < 20:
    raise ConfigError(
        f"REACTIVE_RELAY_MAX_QUEUE_DEPTH={REACTIVE_RELAY_MAX_QUEUE_DEPTH}: use 0 (off) or 20 "
        "or more"
    )

#: Pack the events already pending into multi-event messages (never waits for more). Off
#: by default: a listener older than multi-event messages dead-letters them (README,
#: "Upgrading: multi-event messages").
REACTIVE_PUBLISH_BATCH = env_bool(ENV, "REACTIVE_PUBLISH_BATCH", default=False)
#: The byte budget of one multi-event message (reactive_users/master/conf.py bounds it).
REACTIVE_PUBLISH_BATCH_BYTES = env_count(
    ENV,
    "REACTIVE_PUBLISH_BATCH_BYTES",
    default=64 * 1024,
    least=16 * 1024,
    most=200 * 1024,
    unit="bytes",
)

# --- Celery (read by master/celery.py with namespace CELERY) --------------------------------
#: The Celery app the relay task is sent with (the reactive master app loads it on first use).
REACTIVE_CELERY_APP = "master.celery.app"
CELERY_BROKER_URL = REACTIVE.redis_url
CELERY_RESULT_BACKEND = REACTIVE.redis_url
CELERY_TASK_IGNORE_RESULT = True  # nobody waits for a relay's result
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # the worker waits for Redis at start
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # ... and after losing it, however long it takes
# A relay cut off from Redis is redelivered (acks_late); rerunning it is harmless.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A down Redis must never hang a save: fail fast when enqueueing; the sweep publishes later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 0,  # enqueueing tries once; the worker reconnects by its own policy
    "socket_connect_timeout": 1,
    "socket_timeout": 10,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
CELERY_REDIS_SOCKET_TIMEOUT = 10
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(REACTIVE.state_dir / "master-celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "master.users.tasks.outbox_sweep",
        "schedule": REACTIVE_OUTBOX_SWEEP_SECONDS,
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": REACTIVE_OUTBOX_SWEEP_SECONDS},
    },
}

# --- Logging: to stderr, one level for our code --------------------------------------------
LOG_LEVEL = (ENV.get("REACTIVE_LOG_LEVEL") or "INFO").upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    # "Found credentials in environment variables" on every start is noise, not news.
    "loggers": {"botocore": {"level": "WARNING"}, "boto3": {"level": "WARNING"}},
}
