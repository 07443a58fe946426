from __future__ import annotations

from django.apps import AppConfig


class PostureConfig(AppConfig):
    name = "pixaudit.posture"
    label = "posture"
    verbose_name = "Control posture"
    default_auto_field = "django.db.models.BigAutoField"
