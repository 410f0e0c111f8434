"""A client project written as its owner would: its own ``accounts`` app (email login, one
``full_name``), SQLite, and the reactive-users client app mapping a custom master's fields
(``name``, ``email``, ``is_active``; no username) onto its own."""

import os
from pathlib import Path

from reactive_users.core import naming
from reactive_users.core.settings import Settings

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "name-client-tests-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "tests.projects.name_client.accounts",
    "reactive_users.client",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.projects.name_client.urls"
ASGI_APPLICATION = "tests.projects.name_client.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]
STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_USER_MODEL = "accounts.User"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("NAME_CLIENT_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
USE_TZ = True
# Mail (the password-reset flow's messages): a real project sets its SMTP server here. This
# one writes each message to a file in NAME_CLIENT_MAIL_DIR, where tests/custom_pair reads the
# reset link the web server (another process) sent; unset, messages go to the console.
DEFAULT_FROM_EMAIL = "names@example.com"
if os.environ.get("NAME_CLIENT_MAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["NAME_CLIENT_MAIL_DIR"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# reactive-users: this client's name, the shared settings (queue prefix, AWS endpoint,
# Redis, signing keys from the environment) and which master field goes where.
REACTIVE_CLIENT = "names"
REACTIVE_SETTINGS = Settings.from_env()
REACTIVE_FIELD_MAP = {"name": "full_name", "email": "email", "is_active": "is_active"}
# tests/custom_pair runs this project as several clients' listeners (`reactive listen
# --client NAME` sets REACTIVE_CLIENT) on databases the operator's commands name
# (`reactive` gives DATABASE_URL from <CLIENT>_DATABASE_URL), one with the linking policy.
REACTIVE_CLIENT = os.environ.get("REACTIVE_CLIENT") or REACTIVE_CLIENT
if os.environ.get("DATABASE_URL", "").startswith("sqlite:///"):  # <CLIENT>_DATABASE_URL
    DATABASES["default"]["NAME"] = os.environ["DATABASE_URL"].removeprefix("sqlite:///")
REACTIVE_LINK_BY = os.environ.get("NAME_CLIENT_LINK_BY") or None
# The live component: websocket streams under this prefix (asgi.py includes the routes),
# from exactly these origins, frames through this project's Redis channel layer.
REACTIVE_WS_PREFIX = "me/live/ws/"
REACTIVE_ALLOWED_ORIGINS = os.environ.get("ALLOWED_ORIGINS", "http://127.0.0.1:8000").split(",")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REACTIVE_SETTINGS.redis_url],
            "prefix": naming.channel_layer_prefix(REACTIVE_CLIENT),
        },
    }
}
