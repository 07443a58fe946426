from __future__ import annotations

from django.apps import AppConfig


class ControlsConfig(AppConfig):
    name = "pixaudit.controls"
    label = "controls"
    verbose_name = "Frameworks and controls"
    default_auto_field = "django.db.models.BigAutoField"
