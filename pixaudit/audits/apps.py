from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "pixaudit.audits"
    label = "audits"
    verbose_name = "Audit engagements"
