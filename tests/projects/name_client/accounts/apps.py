from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tests.projects.name_client.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
