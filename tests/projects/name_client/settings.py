"""A client project written as its owner would: its own ``accounts`` app (email login, one
``full_name``), SQLite, and the reactive-users client app mapping a custom master's fields
(``name``, ``email``, ``is_active``; no username) onto its own."""

import os
from pathlib import Path

from reactive_users.core.settings import Settings

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "name-client-tests-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tests.projects.name_client.accounts",
    "reactive_users.client",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
AUTH_USER_MODEL = "accounts.User"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("NAME_CLIENT_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
USE_TZ = True

# reactive-users: this client's name, the shared settings (queue prefix, AWS endpoint,
# Redis, signing keys from the environment) and which master field goes where.
REACTIVE_CLIENT = "names"
REACTIVE_SETTINGS = Settings.from_env()
REACTIVE_FIELD_MAP = {"name": "full_name", "email": "email", "is_active": "is_active"}
