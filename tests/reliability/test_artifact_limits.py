"""Issue 13.6: an artifact size limit with a clear error, and NaN/±Infinity refused.

Before: a 1 GB artifact was accepted (2.1 GB RSS) and NaN in a row was stored as null.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from pixaudit.evidence.models import CollectionRun, EvidenceItem, Finding
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.evidence.storage import artifact_read
from tests.evidence import conftest as evidence_fixtures
from tests.reliability.disk_faults import files_under

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

field_keys = evidence_fixtures.field_keys
media_root = evidence_fixtures.media_root


@pytest.fixture
def inventory():
    from collectors import registry

    class Inventory(evidence_fixtures.InventoryCollector):
        """The test inventory, with rows set by each test."""

    with registry.temporarily(Inventory):
        yield Inventory


def _run(inventory, items) -> CollectionRun:
    # Rows straight from the collector (a connection's JSON params cannot hold NaN).
    inventory.default_items = items
    conn = connection_create(name="c", collector_key=inventory.key, params={})
    return collection_run_execute(
        run_id=collection_run_create(connection=conn, trigger="manual").pk
    )


def test_an_artifact_above_the_limit_fails_naming_both_sizes(
    settings, media_root, field_keys, inventory
):
    settings.PIXAUDIT_ARTIFACT_MAX_BYTES = 64 * 1024
    items = [{"name": f"bucket-{i:05d}-" + "x" * 200, "encrypted": True} for i in range(1000)]
    run = _run(inventory, items)
    assert run.status == "failed" and run.error_permanent
    message = run.error_message
    assert "above the limit of 65,536 bytes (64.0 KiB)" in message
    assert "PIXAUDIT_ARTIFACT_MAX_BYTES" in message and "nothing was stored" in message
    # The size named is the real size of the rows (all 1,000 of them), not where it stopped.
    rows_bytes = sum(len(json.dumps(r, separators=(",", ":"))) for r in _coerced(items)) + 1001
    assert f"{rows_bytes:,} bytes" in message
    assert EvidenceItem.objects.count() == 0 and files_under(media_root) == []


def _coerced(items):
    return [
        {"encrypted": i["encrypted"], "name": i["name"], "seen_at": None, "size": None}
        for i in items
    ]


def test_an_artifact_under_the_limit_is_stored_byte_identical(
    settings, media_root, field_keys, inventory
):
    from pixaudit.evidence.canonical import canonical_bytes, sha256_hex

    settings.PIXAUDIT_ARTIFACT_MAX_BYTES = 64 * 1024
    run = _run(inventory, [{"name": "b", "encrypted": True, "size": 3}])
    assert run.status == "succeeded", run.error_message
    item = EvidenceItem.objects.get()
    data = artifact_read(item.artifact_path)
    # The spliced bytes are exactly the canonical form of the parsed document.
    assert canonical_bytes(json.loads(data)) == data and sha256_hex(data) == item.sha256


@pytest.mark.parametrize(
    ("row", "column", "shown"),
    [
        ({"name": "a", "size": float("nan")}, "size", "nan"),
        ({"name": "a", "size": np.float64("inf")}, "size", "inf"),
        ({"name": float("nan")}, "name", "nan"),
        ({"name": "a", "encrypted": float("nan")}, "encrypted", "nan"),
        ({"name": "a", "seen_at": float("nan")}, "seen_at", "nan"),
        ({"name": "a", "size": Decimal("NaN")}, "size", "Decimal('NaN')"),
        ({"name": -math.inf}, "name", "-inf"),
    ],
)
def test_nan_and_infinity_are_refused_naming_column_and_row(
    media_root, field_keys, inventory, row, column, shown
):
    items = [{"name": "ok-1"}, {"name": "ok-2"}, row]
    run = _run(inventory, items)
    assert run.status == "failed" and run.error_permanent, run.error_message
    assert run.error_message.startswith(f"column {column!r}, row 2: {shown} is not a finite")
    assert "return None for a missing value" in run.error_message
    assert EvidenceItem.objects.count() == 0 and Finding.objects.count() == 0


def test_missing_values_stay_null(media_root, field_keys, inventory):
    run = _run(inventory, [{"name": "a", "size": None, "seen_at": None, "encrypted": None}])
    assert run.status == "succeeded", run.error_message
    document = json.loads(artifact_read(EvidenceItem.objects.get().artifact_path))
    assert document["rows"] == [{"encrypted": None, "name": "a", "seen_at": None, "size": None}]


def test_the_secret_check_sees_across_artifact_parts():
    from pixaudit.evidence.services.runs import _Redactor

    redact = _Redactor(["s3cr3t-T0KEN"])
    assert redact.leaks_into([b'{"a":"s3c', b"r", b"3t-T0", b'KEN"}'])
    assert redact.leaks_into(b'{"a":"s3cr3t-T0KEN"}')
    assert not redact.leaks_into([b'{"a":"s3cr3t-', b"T0KEX", b'"}'])
    assert not _Redactor([]).leaks_into([b"anything"])
