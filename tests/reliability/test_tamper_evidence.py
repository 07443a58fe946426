"""Issue 13.10: tampering with a field that decides what an auditor sees is detected.

Each test edits the database the way an attacker with write access would (raw SQL, through
PostgreSQL's retention hatch), then runs ``manage.py verify_evidence``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import transaction

from pixaudit.evidence.models import CollectionRun, EvidenceItem, Finding
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from tests.evidence import conftest as evidence_fixtures
from tests.reviews import fixtures as review_fixtures

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

field_keys = evidence_fixtures.field_keys
inventory = evidence_fixtures.inventory
media_root = evidence_fixtures.media_root


@pytest.fixture
def items(field_keys, inventory, media_root):
    conn = connection_create(name="c", collector_key=inventory.key, params={})
    for _ in range(3):
        run = collection_run_create(connection=conn, trigger="manual")
        assert collection_run_execute(run_id=run.pk).status == "succeeded"
    return list(EvidenceItem.objects.order_by("seq"))


def raw(sql: str, params=()) -> None:
    """Run ``sql`` like an attacker with database access (the retention hatch on PostgreSQL)."""
    with transaction.atomic(), db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            cursor.execute("SET LOCAL pixaudit.retention = 'on'")
        cursor.execute(sql, params)


def verify() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("verify_evidence", stdout=out)
    except CommandError as exc:
        return False, str(exc)
    return True, out.getvalue()


def _json_param() -> str:
    return "CAST(%s AS jsonb)" if db_connection.vendor == "postgresql" else "%s"


@pytest.mark.parametrize(
    "change",
    [
        "collected_at",
        "effective_at",
        "expires_at",
        "connection_id",
        "collector_key",
        "collector_version",
        "pixaudit_version",
        "run_id",
        "row_count",
        "findings_count",
        "size",
        "provenance",
    ],
)
def test_a_changed_item_field_is_detected(items, change):
    target = items[1]
    other_run = items[0].run_id
    values = {
        "collected_at": target.collected_at - timedelta(days=40),  # back into an audit window
        "effective_at": target.effective_at - timedelta(days=40),
        "expires_at": target.expires_at + timedelta(days=365),  # stale evidence looks fresh
        "connection_id": None,
        "collector_key": "aws_s3_buckets",
        "collector_version": 99,
        "pixaudit_version": "9.9.9",
        "run_id": other_run,
        "row_count": 1000,
        "findings_count": 0,
        "size": 1,
        "provenance": json.dumps({"identity": "arn:aws:iam::000000000000:role/forged"}),
    }
    placeholder = _json_param() if change == "provenance" else "%s"
    raw(
        f"UPDATE {EvidenceItem._meta.db_table} SET {change} = {placeholder} WHERE id = %s",
        [values[change], target.pk],
    )
    ok, text = verify()
    assert not ok, text
    assert f"item seq=2 (id {target.pk}" in text
    if change in ("collected_at", "run_id"):  # its findings now belong elsewhere
        assert "a finding's collection time or run" in text and "is not its item's" in text
    else:
        assert "chain hash mismatch (a field of the item was changed" in text


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("thresholds", json.dumps({"limit": 10**9})),  # a looser threshold than applied
        ("controls", json.dumps(["soc2-2017:CC1.1"])),  # the finding mapped elsewhere
        ("collected_at", None),
        ("run_id", None),
    ],
)
def test_a_changed_finding_field_is_detected(items, column, value):
    target = items[2]
    finding = Finding.objects.filter(evidence=target).order_by("id").first()
    if column == "collected_at":
        value = finding.collected_at - timedelta(days=1)
    if column == "run_id":
        value = CollectionRun.objects.exclude(pk=finding.run_id).first().pk
    placeholder = _json_param() if column in ("thresholds", "controls") else "%s"
    raw(
        f"UPDATE {Finding._meta.db_table} SET {column} = {placeholder} WHERE id = %s",
        [value, finding.pk],
    )
    ok, text = verify()
    assert not ok, text
    assert f"item seq=3 (id {target.pk}" in text and "findings digest mismatch" in text


def test_an_item_rewritten_with_the_old_formula_is_detected(items):
    raw(f"UPDATE {EvidenceItem._meta.db_table} SET digest_version = 1 WHERE id = %s", [items[2].pk])
    ok, text = verify()
    assert not ok and "item seq=3" in text and "digest version 1 after version-2 items" in text


catalogs = review_fixtures.catalogs
users = review_fixtures.users


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("valid_until", "2099-12-31", "valid until"),  # an expired pen test looks current
        ("title", "Annual penetration test", "title"),
        ("control_addresses", json.dumps(["soc2-2017:CC6.1"]), "controls"),
    ],
)
def test_a_changed_manual_evidence_row_is_detected(media_root, catalogs, users, column, value,
                                                   named):  # fmt: skip
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from pixaudit.evidence.models import ManualEvidence
    from pixaudit.evidence.services.manual import manual_evidence_upload

    pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    row = manual_evidence_upload(
        upload=SimpleUploadedFile("p.pdf", pdf), file_name="p.pdf", user=users.manager,
        title="Pen test", effective_on=timezone.now().date() - timedelta(days=400),
        control_addresses=["soc2-2017:CC4.1"], recurrence="yearly",
    )  # fmt: skip
    assert verify()[0]
    placeholder = _json_param() if column == "control_addresses" else "%s"
    raw(
        f"UPDATE {ManualEvidence._meta.db_table} SET {column} = {placeholder} WHERE id = %s",
        [value, row.pk],
    )
    ok, text = verify()
    assert not ok and "manual evidence row differs from its chained artifact" in text
    assert f"({named})" in text
