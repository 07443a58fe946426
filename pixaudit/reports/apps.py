from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "pixaudit.reports"
    label = "reports"
    verbose_name = "Reports and evidence packs"
    default_auto_field = "django.db.models.BigAutoField"
