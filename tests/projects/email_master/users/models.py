from django.conf import settings
from django.db import models


class Profile(models.Model):
    """The project's own per-user data, in its own ``users`` app."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    bio = models.TextField(blank=True, default="")
