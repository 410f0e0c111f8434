"""A master project as its owner writes it (an identity app with its own ``accounts.User``),
with reactive-users added: the lines under "reactive-users" are all it took."""

import os
from pathlib import Path

from reactive_users.core.settings import Settings

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "email-master-test-only"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tests.projects.email_master.accounts",
    "tests.projects.email_master.users",  # the project's own app labelled "users"
    "reactive_users.master",  # reactive-users
]
AUTH_USER_MODEL = "accounts.User"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # tests/custom_pair runs this project as processes on a database of the run's own.
        "NAME": os.environ.get("EMAIL_MASTER_DB") or BASE_DIR / "db.sqlite3",
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# reactive-users: topic, AWS and signing keys from the environment; what clients receive.
REACTIVE = Settings.from_env(user_fields=("email", "name", "is_active", "newsletter", "plan"))
REACTIVE_EXCLUDE_USER = "tests.projects.email_master.accounts.rules.is_internal"
