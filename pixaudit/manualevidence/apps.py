from __future__ import annotations

from django.apps import AppConfig


class ManualEvidenceConfig(AppConfig):
    """Pages for manual evidence; the model and the chain code live in the evidence app."""

    name = "pixaudit.manualevidence"
    label = "manualevidence"
    verbose_name = "Manual evidence"
