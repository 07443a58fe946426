"""The append-only audit log: who did what, when, from where, to which object.

Rows are written only by ``services.audit_log_record``. ``save()`` of an existing row,
``delete()`` and queryset ``update()``/``delete()`` raise :class:`AuditLogAppendOnlyError`;
on PostgreSQL a trigger refuses UPDATE and DELETE as well (migration 0002). The actor is
kept both as an id without a foreign-key constraint and as a name snapshot, so that removing
a user never has to rewrite (or cascade into) the log.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditLogAppendOnlyError(Exception):
    def __init__(self) -> None:
        super().__init__("pixaudit: the audit log is append-only (events cannot change)")


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogAppendOnlyError()

    def delete(self):
        raise AuditLogAppendOnlyError()

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_repr = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. auth.login")
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="auditlog_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_repr or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogAppendOnlyError()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogAppendOnlyError()
