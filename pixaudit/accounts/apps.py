from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pixaudit.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from pixaudit.accounts import signals  # noqa: F401  (connects the receivers)
