"""Settings that migrate the frozen ``users`` app into the database DATABASE_URL names."""

import os

import dj_database_url

SECRET_KEY = "legacy-master-test-only"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "tests.projects.legacy_master.users",
]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
