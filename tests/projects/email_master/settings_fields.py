"""The project with another allow-list, from EMAIL_MASTER_USER_FIELDS (comma-separated): how
the tests show what ``manage.py check`` says about a bad one."""

import os

from reactive_users.core.settings import Settings
from tests.projects.email_master.settings import *  # noqa: F403

REACTIVE = Settings.from_env(user_fields=tuple(os.environ["EMAIL_MASTER_USER_FIELDS"].split(",")))
