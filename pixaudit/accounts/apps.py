from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pixaudit.accounts"
    label = "accounts"
    verbose_name = "Accounts"
