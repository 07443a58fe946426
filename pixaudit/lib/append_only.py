"""Append-only history tables outside the evidence chain and the audit log.

Statement of Applicability decisions, readiness snapshots, mapping overrides, evidence
request status events and audit samples are records an auditor relies on: rows are added,
never changed or removed. Two layers enforce it, as for evidence (``pixaudit.evidence.models``)
and the audit log (``pixaudit.auditlog.models``), which keep their own, older classes:

- the ORM: :class:`AppendOnlyHistoryModel` refuses ``save()`` of an existing row and
  ``delete()``; its queryset refuses ``update()``, ``delete()`` and so ``bulk_update()``.
  Foreign keys *into* such a table must be ``PROTECT``: Django's cascades (and ``SET_NULL``)
  write SQL directly, past the ORM refusal.
- PostgreSQL: :func:`append_only_triggers` (a migration operation) installs a trigger that
  refuses UPDATE and DELETE whoever issues them. The retention hatch is the evidence one:
  ``SET LOCAL pixaudit.retention = 'on'`` inside the deleting transaction.
"""

from __future__ import annotations

from django.db import migrations, models

__all__ = [
    "AppendOnlyHistoryError",
    "AppendOnlyHistoryModel",
    "AppendOnlyHistoryQuerySet",
    "append_only_triggers",
]


class AppendOnlyHistoryError(Exception):
    """Raised on any attempt to change or remove a history row through the ORM."""

    def __init__(self, model: type[models.Model]):
        name = model._meta.verbose_name_plural
        super().__init__(f"pixaudit: {name} are append-only history (rows cannot change)")


class AppendOnlyHistoryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyHistoryError(self.model)

    def delete(self):
        raise AppendOnlyHistoryError(self.model)

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class AppendOnlyHistoryModel(models.Model):
    """Abstract base: rows are inserted once and never changed or deleted by the app."""

    objects = AppendOnlyHistoryQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyHistoryError(type(self))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyHistoryError(type(self))


TRIGGER_FUNCTION = "pixaudit_history_append_only"

_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('pixaudit.retention', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'pixaudit: history is append-only (% on % refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'retention: SET LOCAL pixaudit.retention = ''on'' in its transaction';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_triggers(*tables: str) -> migrations.RunPython:
    """A migration operation: UPDATE and DELETE on ``tables`` raise (PostgreSQL only).

    The trigger function is created (or replaced, identically) by every migration that uses
    it, so apps do not depend on each other's migrations; reversing drops the triggers and
    leaves the function, which other tables may still use.
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        # params=None: the body's "%" are RAISE placeholders, not query parameters.
        schema_editor.execute(_CREATE_FUNCTION, params=None)
        for table in tables:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

    return migrations.RunPython(forwards, backwards)
