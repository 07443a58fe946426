from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.db import connection as db_connection

from pixaudit.evidence.canonical import canonical_bytes, sha256_hex
from pixaudit.evidence.integrity import (
    compute_chain_hash,
    compute_chain_hash_v2,
    findings_digest,
    verify_chain,
)
from pixaudit.evidence.models import (
    GENESIS_HASH,
    AppendOnlyError,
    ChainHead,
    EvidenceItem,
    Finding,
)
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_items(field_keys, inventory, media_root):
    conn = connection_create(name="c", collector_key=inventory.key, params={})
    for _ in range(3):
        run = collection_run_create(connection=conn, trigger="manual")
        assert collection_run_execute(run_id=run.pk).status == "succeeded"
    return list(EvidenceItem.objects.order_by("seq"))


def verify() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("verify_evidence", stdout=out)
    except CommandError as exc:
        return False, str(exc)
    return True, out.getvalue()


@pytest.mark.smoke
def test_three_runs_are_linked_and_verify(three_items):
    a, b, c = three_items
    assert [i.seq for i in three_items] == [1, 2, 3]
    assert a.prev_chain_hash == GENESIS_HASH
    assert b.prev_chain_hash == a.chain_hash and c.prev_chain_hash == b.chain_hash
    for item in three_items:
        assert item.digest_version == 2
        assert item.chain_hash == compute_chain_hash_v2(item, item.prev_chain_hash)
    ok, text = verify()
    assert ok and text.splitlines()[0] == f"OK: 3 items, head {c.chain_hash}"
    assert text.splitlines()[-1] == "OK: current state matches history (6 rows)"


def test_chain_hash_definition():
    rows = [["a.x", "r1", "pass", "low", "ok"], ["a.x", "r2", "fail", "low", "no"]]
    assert findings_digest(rows) == sha256_hex(canonical_bytes(rows))
    assert findings_digest([]) == sha256_hex(b"[]")
    expected = sha256_hex(("0" * 64 + "1" * 64 + "2" * 64).encode())
    assert compute_chain_hash("0" * 64, "1" * 64, "2" * 64) == expected


def test_flipped_artifact_byte_names_the_item(three_items, media_root):
    target = three_items[1]
    path = media_root / target.artifact_path
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    ok, text = verify()
    assert not ok
    assert f"item seq=2 (id {target.pk}, testsrc_inventory, collected " in text
    assert text.endswith("artifact hash mismatch")


def test_missing_artifact_is_named(three_items, media_root):
    (media_root / three_items[0].artifact_path).unlink()
    ok, text = verify()
    assert not ok and "item seq=1" in text and "artifact missing" in text


def _raw_update_finding(finding_id: int) -> None:
    with transaction.atomic(), db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            # the documented retention hatch, local to this transaction
            cursor.execute("SET LOCAL pixaudit.retention = 'on'")
        cursor.execute(
            f"UPDATE {Finding._meta.db_table} SET status = 'pass' WHERE id = %s", [finding_id]
        )


def test_changed_finding_row_fails_verification(three_items):
    target = three_items[2]
    finding = Finding.objects.filter(evidence=target, status="fail").first()
    _raw_update_finding(finding.pk)
    ok, text = verify()
    assert not ok
    assert f"item seq=3 (id {target.pk}" in text and "findings digest mismatch" in text


def test_removed_tail_is_detected(three_items):
    ChainHead.objects.filter(pk=1).update(seq=4)
    ok, text = verify()
    assert not ok and "chain head says seq=4" in text


def test_orm_refuses_changes_to_history(three_items):
    item = three_items[0]
    with pytest.raises(AppendOnlyError, match="append-only"):
        item.save()
    with pytest.raises(AppendOnlyError):
        item.delete()
    with pytest.raises(AppendOnlyError):
        EvidenceItem.objects.filter(pk=item.pk).update(sha256="0" * 64)
    with pytest.raises(AppendOnlyError):
        Finding.objects.all().delete()
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE evidence_evidenceitem SET sha256 = repeat('0', 64)",
        "DELETE FROM evidence_evidenceitem WHERE seq = 3",
        "UPDATE evidence_finding SET message = 'tampered'",
        "DELETE FROM evidence_finding",
    ],
)
def test_trigger_rejects_update_and_delete(require_postgres, three_items, sql):
    with pytest.raises(DatabaseError, match="pixaudit: evidence is append-only"):
        with transaction.atomic(), db_connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # real transactions: SET LOCAL must end with COMMIT
def test_retention_hatch_is_off_by_default_and_transaction_local(require_postgres, three_items):
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute("SET LOCAL pixaudit.retention = 'on'")
        # Derived rows that point at the item go first (the exceptions register is rebuilt
        # from what remains), as the planned retention command will do.
        cursor.execute(
            "DELETE FROM exceptions_exceptionrecord WHERE %s IN "
            "(start_evidence_id, last_evidence_id, end_evidence_id)",
            [three_items[0].pk],
        )
        cursor.execute("DELETE FROM evidence_finding WHERE evidence_id = %s", [three_items[0].pk])
        cursor.execute("DELETE FROM evidence_evidenceitem WHERE id = %s", [three_items[0].pk])
    assert EvidenceItem.objects.count() == 2
    # the setting ended with its transaction: the trigger is back
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), db_connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM evidence_finding WHERE evidence_id = %s", [three_items[1].pk]
            )
    # and a session-level "off"/garbage value does not open it either
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), db_connection.cursor() as cursor:
            cursor.execute("SET LOCAL pixaudit.retention = 'yes'")
            cursor.execute("DELETE FROM evidence_finding")
