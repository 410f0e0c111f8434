from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "tests.projects.email_master.users"
    default_auto_field = "django.db.models.BigAutoField"
