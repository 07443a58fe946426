"""The audit log: append-only, recorded by services, viewable and exportable by admins."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent, AuditLogAppendOnlyError
from pixaudit.auditlog.services import audit_log_record
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.django_db


def test_events_cannot_change_or_disappear_through_the_orm():
    event = audit_log_record(action="test.thing", note="x")
    event.action = "test.other"
    with pytest.raises(AuditLogAppendOnlyError):
        event.save()
    with pytest.raises(AuditLogAppendOnlyError):
        event.delete()
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger is PostgreSQL-only")
def test_postgres_trigger_refuses_raw_update_and_delete():
    event = audit_log_record(action="test.thing")
    for sql in ("UPDATE auditlog_auditevent SET action = 'x' WHERE id = %s",
                "DELETE FROM auditlog_auditevent WHERE id = %s"):  # fmt: skip
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])


def test_record_takes_actor_ip_agent_and_object_from_the_request(rf):
    user = user_make(Role.ADMIN)
    request = rf.get("/", HTTP_USER_AGENT="agent/1.0", REMOTE_ADDR="192.0.2.1")
    request.user = user
    event = audit_log_record(action="user.changed", obj=user, request=request, field="role")
    assert (event.actor_id, event.actor_repr) == (user.pk, user.username)
    assert (event.ip, event.user_agent) == ("192.0.2.1", "agent/1.0")
    assert (event.object_type, event.object_id, event.object_repr) == (
        "accounts.user", str(user.pk), user.username
    )  # fmt: skip
    assert event.details == {"field": "role"}


def test_viewer_filters_and_is_for_admins_and_compliance_managers():
    admin = user_make(Role.ADMIN)
    audit_log_record(action="engagement.created", obj=admin)
    audit_log_record(action="sample.drawn")
    client = client_for(admin)
    response = client.get("/audit-log/", {"action": "engagement.created"})
    assert response.status_code == 200
    events = list(response.context["page"].object_list)
    assert [e.action for e in events] == ["engagement.created"]
    # Compliance managers see the audit log too (issue 15); engineers and auditors do not.
    assert client_for(user_make(Role.COMPLIANCE_MANAGER)).get("/audit-log/").status_code == 200
    for role in (Role.ENGINEER, Role.AUDITOR):
        assert client_for(user_make(role)).get("/audit-log/").status_code == 403


def test_csv_export_streams_filters_and_neutralises_formulas():
    admin = user_make(Role.ADMIN)
    audit_log_record(action="test.formula", note="=HYPERLINK(evil)", obj=admin)
    client = client_for(admin)
    response = client.get("/audit-log/export.csv", {"action": "test.formula"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "at", "actor", "action"]
    assert len(rows) == 2 and rows[1][3] == "test.formula"
    assert AuditEvent.objects.filter(action="auditlog.exported").exists()
