"""PostgreSQL trigger that makes the audit log append-only at the database level.

UPDATE and DELETE on ``auditlog_auditevent`` raise ``pixaudit: the audit log is append-only``
whoever issues them. SQLite has no equivalent; there the model refuses instead. Retention
(if ever needed) uses the same hatch as evidence: ``SET LOCAL pixaudit.retention = 'on'``
inside the deleting transaction.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "auditlog_auditevent"

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION pixaudit_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('pixaudit.retention', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'pixaudit: the audit log is append-only (% on % refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION pixaudit_auditlog_append_only()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    schema_editor.execute("DROP FUNCTION IF EXISTS pixaudit_auditlog_append_only()")


class Migration(migrations.Migration):
    dependencies = [("auditlog", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
