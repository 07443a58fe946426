from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "pixaudit.privacy"
    label = "privacy"
    verbose_name = "Data-subject requests"
