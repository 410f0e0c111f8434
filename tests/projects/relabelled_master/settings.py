"""Stock ``auth.User``, the master app relabelled ``outbox``; DATABASE_URL names the database."""

import os

import dj_database_url

from reactive_users.core.settings import Settings

SECRET_KEY = "relabelled-master-test-only"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "tests.projects.relabelled_master.apps.OutboxConfig",
]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
REACTIVE = Settings.from_env()
