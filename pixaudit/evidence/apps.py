from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "pixaudit.evidence"
    label = "evidence"
    verbose_name = "Evidence"
