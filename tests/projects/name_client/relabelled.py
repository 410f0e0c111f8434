"""The project with the client app under a label of its own (``mirror``), as the README's
"Relabelling" shows: a subclass of ``ReplicaConfig`` named in INSTALLED_APPS."""

from reactive_users.client.apps import ReplicaConfig
from tests.projects.name_client.settings import *  # noqa: F403
from tests.projects.name_client.settings import INSTALLED_APPS as _APPS


class MirrorConfig(ReplicaConfig):
    label = "mirror"


INSTALLED_APPS = [
    "tests.projects.name_client.relabelled.MirrorConfig" if app == "reactive_users.client" else app
    for app in _APPS
]
