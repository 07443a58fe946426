from __future__ import annotations

from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "pixaudit.changes"
    label = "changes"
    verbose_name = "Change management"
