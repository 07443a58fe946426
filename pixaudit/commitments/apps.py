from __future__ import annotations

from django.apps import AppConfig


class CommitmentsConfig(AppConfig):
    name = "pixaudit.commitments"
    label = "commitments"
    verbose_name = "Commitments"
