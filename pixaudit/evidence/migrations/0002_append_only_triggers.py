"""PostgreSQL triggers that make evidence history append-only at the database level.

UPDATE and DELETE on ``evidence_evidenceitem`` and ``evidence_finding`` raise
``pixaudit: evidence is append-only``, whoever issues them (the app, a psql session, a
buggy migration). SQLite has no equivalent worth the name; there the models refuse instead.

Escape hatch for the retention command (and only it): inside a transaction,
``SET LOCAL pixaudit.retention = 'on'`` lets that one transaction delete rows. ``SET LOCAL``
ends with the transaction, so the hatch can never stay open by accident; it is off by
default because an unset custom setting reads as NULL.
"""

from __future__ import annotations

from django.db import migrations

TABLES = ("evidence_evidenceitem", "evidence_finding")

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION pixaudit_evidence_append_only() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('pixaudit.retention', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'pixaudit: evidence is append-only (% on % refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'retention runs inside a transaction with SET LOCAL pixaudit.retention = ''on''';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # params=None: the function body contains "%" placeholders of RAISE, not query params.
    schema_editor.execute(CREATE_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION pixaudit_evidence_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS pixaudit_evidence_append_only()")


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
