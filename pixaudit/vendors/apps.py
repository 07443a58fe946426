from __future__ import annotations

from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "pixaudit.vendors"
    label = "vendors"
    verbose_name = "Processors and vendors"
