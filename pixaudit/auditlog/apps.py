from django.apps import AppConfig


class AuditlogConfig(AppConfig):
    name = "pixaudit.auditlog"
    label = "auditlog"
    verbose_name = "Audit log"
