from django.apps import AppConfig


class LegacyUsersConfig(AppConfig):
    name = "tests.projects.legacy_master.users"
    label = "users"
    default_auto_field = "django.db.models.BigAutoField"
