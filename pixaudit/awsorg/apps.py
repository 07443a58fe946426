from __future__ import annotations

from django.apps import AppConfig


class AwsOrgConfig(AppConfig):
    name = "pixaudit.awsorg"
    label = "awsorg"
    verbose_name = "AWS integrations"
