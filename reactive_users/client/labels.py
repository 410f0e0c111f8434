"""The client app's label as installed (``replica`` unless the project relabels it): what
its migrations depend on and look models up under, never a hard-coded string."""

from __future__ import annotations

from django.apps import apps

DEFAULT_LABEL = "replica"


def installed_label() -> str:
    """The label the project installed the client app under (its AppConfig's ``label``)."""
    config = apps.get_containing_app_config(__name__)
    if config is None:
        raise LookupError("reactive_users.client is not in INSTALLED_APPS")
    return config.label
