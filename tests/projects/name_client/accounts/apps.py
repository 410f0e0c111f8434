from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tests.projects.name_client.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tests.projects.name_client.accounts import receivers  # noqa: F401  (connects them)
