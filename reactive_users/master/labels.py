"""The master app's label as installed, and the names it used before it had its own.

The app's label is ``reactive_master`` unless the project relabels it (a subclass of
``ReactiveMasterConfig`` with another ``label``), so nothing names it literally: the
migrations depend on ``installed_label()``. The tables keep fixed names (``db_table``)
whatever the label, so a relabel moves only Django's records of the app (applied
migrations, content types), never its data; ``manage.py reactive_relabel`` does that.

Until December 2026 the app was labelled ``users`` (clashing with most projects' own
``users`` app), with the tables and indexes named after it: ``LEGACY_*`` below, which only
``reactive_relabel`` and the check that points to it read.
"""

from __future__ import annotations

from django.apps import apps

DEFAULT_LABEL = "reactive_master"
LEGACY_LABEL = "users"

#: Model (lower-case name) -> table, as the migrations create them under any label.
TABLES = {
    "outboxevent": "reactive_master_outboxevent",
    "userversion": "reactive_master_userversion",
}
#: The same tables under the legacy label (Django's default names then).
LEGACY_TABLES = {
    "outboxevent": "users_outboxevent",
    "userversion": "users_userversion",
}
#: The outbox's named indexes: legacy name -> name now.
LEGACY_INDEXES = {
    "users_outbox_pending": "reactive_master_outbox_pending",
    "users_outbox_retry": "reactive_master_outbox_retry",
    "users_outbox_sent": "reactive_master_outbox_sent",
}


def installed_label() -> str:
    """The label the project installed the master app under (its AppConfig's ``label``)."""
    config = apps.get_containing_app_config(__name__)
    if config is None:
        raise LookupError("reactive_users.master is not in INSTALLED_APPS")
    return config.label
