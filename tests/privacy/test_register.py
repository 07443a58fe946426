"""The data-subject request register: validation, pages and roles, audit log, evidence."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent
from pixaudit.evidence.models import EvidenceItem, Finding
from pixaudit.evidence.storage import artifact_read
from pixaudit.privacy.jobs import privacy_daily_job
from pixaudit.privacy.models import DataSubjectRequest
from pixaudit.privacy.selectors import monthly_metrics, requests_filtered
from pixaudit.privacy.services import (
    PrivacyError,
    privacy_evidence_refresh,
    request_complete,
    request_create,
    request_update,
)
from tests.security.helpers import client_for, pdf_make

pytestmark = pytest.mark.django_db


def _today():  # type: ignore[no-untyped-def]
    """Read per test, not at import: a run that crosses midnight must not shift the dates."""
    return timezone.localdate()


def _pdf(name: str = "answer.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, pdf_make("answered"), "application/pdf")


def _create(reference: str, days_ago: int, kind: str = "access", **kw) -> DataSubjectRequest:
    return request_create(reference=reference, kind=kind,
                          received_on=_today() - timedelta(days=days_ago), **kw)  # fmt: skip


def _complete(item: DataSubjectRequest, days_ago: int, user=None) -> DataSubjectRequest:
    return request_complete(request=item, completed_on=_today() - timedelta(days=days_ago),
                            upload=_pdf(), file_name="answer.pdf", user=user)  # fmt: skip


def _register() -> None:
    """One completed on time, one completed late, one open past due, one open in time."""
    _complete(_create("DSR-ON-TIME", 40), 35)
    _complete(_create("DSR-LATE", 60, kind="erasure"), 20)
    _create("DSR-OVERDUE", 45, kind="portability", notes="Called twice; see ticket.")
    _create("DSR-OPEN", 5, kind="objection")


# --- model and service validation ----------------------------------------------------------


def test_due_date_is_received_plus_the_configured_days_and_kept_on_the_row(media_root,
                                                                           settings):  # fmt: skip
    settings.PIXAUDIT_DSR_DUE_DAYS = 10
    item = _create("DSR-1", 3)
    assert (item.due_days, item.due_on) == (10, _today() - timedelta(days=3) + timedelta(days=10))
    settings.PIXAUDIT_DSR_DUE_DAYS = 30
    moved = request_update(request=item, reference="DSR-1", kind="access",
                           received_on=_today() - timedelta(days=4))  # fmt: skip
    assert moved.due_on == _today() - timedelta(days=4) + timedelta(days=10)
    assert _create("DSR-2", 0).due_on == _today() + timedelta(days=30)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"reference": " "}, "reference", "reference"),
        ({"reference": "x" * 65}, "reference", "at most 64"),
        ({"reference": "DSR\n1"}, "reference", "single line"),
        ({"kind": "deletion"}, "kind", "Choose the kind"),
        ({"received_on": None}, "received_on", "received"),
        ({"received_on": timedelta(days=1)}, "received_on", "future"),
        ({"identity_verified_on": timedelta(days=-9)}, "identity_verified_on", "before"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_error(media_root, fields, field, text):
    # Dates are given as offsets from today so that parametrisation does not fix the day.
    fields = {k: _today() + v if isinstance(v, timedelta) else v for k, v in fields.items()}
    values = {"reference": "DSR-9", "kind": "access", "received_on": _today() - timedelta(days=2),
              **fields}  # fmt: skip
    with pytest.raises(PrivacyError) as caught:
        request_create(**values)
    assert text in caught.value.errors[field]
    assert not DataSubjectRequest.objects.exists()


def test_references_are_unique(media_root):
    _create("DSR-1", 1)
    with pytest.raises(PrivacyError, match="already recorded"):
        _create("DSR-1", 2)


def test_completion_needs_a_date_not_before_receipt_and_the_evidence_file(media_root):
    item = _create("DSR-1", 10)
    with pytest.raises(PrivacyError) as caught:
        request_complete(request=item, completed_on=_today() - timedelta(days=11), upload=None,
                         file_name="")  # fmt: skip
    assert "before the request was received" in caught.value.errors["completed_on"]
    assert "Attach the evidence" in caught.value.errors["file"]
    with pytest.raises(PrivacyError, match="in the future"):
        request_complete(request=item, completed_on=_today() + timedelta(days=1), upload=_pdf(),
                         file_name="answer.pdf")  # fmt: skip
    item.refresh_from_db()
    assert item.completed_on is None
    done = _complete(item, 0)
    assert done.completed_on == _today() and done.evidence_file_name == "answer.pdf"
    assert done.evidence_content_type == "application/pdf" and len(done.evidence_sha256) == 64
    with pytest.raises(PrivacyError, match="already completed"):
        _complete(done, 0)


def test_completion_file_gets_the_manual_evidence_checks(media_root, settings):
    item = _create("DSR-1", 10)
    exe = SimpleUploadedFile("answer.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf")
    with pytest.raises(PrivacyError) as caught:
        request_complete(request=item, completed_on=_today(), upload=exe, file_name="answer.pdf")
    assert "executable" in caught.value.errors["file"]
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 1024
    with pytest.raises(PrivacyError) as caught:
        request_complete(request=item, completed_on=_today(), file_name="log.txt",
                         upload=SimpleUploadedFile("log.txt", b"erased\n" * 500))  # fmt: skip
    assert "larger than the 1024 bytes limit" in caught.value.errors["file"]
    item.refresh_from_db()
    assert item.completed_on is None


# --- pages and roles -----------------------------------------------------------------------


def test_only_managers_and_admins_reach_the_register(media_root, users):
    _register()
    url = reverse("privacy:list")
    for user in (users.manager, users.admin):
        response = client_for(user).get(url)
        assert response.status_code == 200
        assert b"DSR-OVERDUE" in response.content
    for user in (users.engineer, users.auditor):
        assert client_for(user).get(url).status_code == 403
    assert b"Privacy requests" in client_for(users.manager).get(reverse("dashboard:home")).content
    assert b"Privacy requests" not in client_for(users.engineer).get(
        reverse("dashboard:home")).content  # fmt: skip


def test_list_filters_by_state_and_kind(media_root, users):
    _register()
    client = client_for(users.manager)

    def shown(query: str) -> set[str]:
        body = client.get(reverse("privacy:list") + query).content.decode()
        return {r for r in ("DSR-ON-TIME", "DSR-LATE", "DSR-OVERDUE", "DSR-OPEN") if r in body}

    assert shown("?state=open") == {"DSR-OVERDUE", "DSR-OPEN"}
    assert shown("?state=overdue") == {"DSR-OVERDUE"}
    assert shown("?state=completed") == {"DSR-ON-TIME", "DSR-LATE"}
    assert shown("?kind=erasure") == {"DSR-LATE"}
    assert shown("?state=open&kind=objection") == {"DSR-OPEN"}
    assert {r.reference for r in requests_filtered(state="overdue")} == {"DSR-OVERDUE"}


def test_create_edit_and_complete_through_the_pages(media_root, users):
    client = client_for(users.manager)
    received = _today() - timedelta(days=3)
    response = client.post(reverse("privacy:create"), {
        "reference": "DSR-77", "kind": "rectification", "received_on": received.isoformat(),
    })  # fmt: skip
    assert response.status_code == 302
    item = DataSubjectRequest.objects.get(reference="DSR-77")
    refused = client.post(
        reverse("privacy:create"),
        {"reference": "DSR-77", "kind": "access", "received_on": received.isoformat()},
    )
    assert refused.status_code == 400 and b"already recorded" in refused.content
    response = client.post(reverse("privacy:edit", args=[item.pk]), {
        "reference": "DSR-77", "kind": "erasure", "received_on": received.isoformat(),
        "identity_verified_on": _today().isoformat(), "notes": "ID checked by phone",
    })  # fmt: skip
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.kind, item.identity_verified_on) == ("erasure", _today())
    url = reverse("privacy:complete", args=[item.pk])
    no_file = client.post(url, {"completed_on": _today().isoformat()})
    assert no_file.status_code == 400 and b"Attach the evidence" in no_file.content
    early = client.post(url, {"completed_on": (received - timedelta(days=1)).isoformat(),
                              "file": _pdf()})  # fmt: skip
    assert early.status_code == 400 and b"before the request was received" in early.content
    done = client.post(url, {"completed_on": _today().isoformat(), "file": _pdf()})
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.completed_on == _today() and item.completed_by == users.manager
    download = client.get(reverse("privacy:evidence_download", args=[item.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert client_for(users.engineer).get(
        reverse("privacy:evidence_download", args=[item.pk])).status_code == 403  # fmt: skip


def test_an_oversized_completion_file_is_refused_while_it_streams(media_root, users, settings):
    settings.PIXAUDIT_MANUAL_MAX_BYTES = 1024
    item = _create("DSR-1", 3)
    response = client_for(users.manager).post(
        reverse("privacy:complete", args=[item.pk]),
        {"completed_on": _today().isoformat(), "file": SimpleUploadedFile("big.txt", b"a" * 5000)},
    )
    assert response.status_code == 413 and b"limit" in response.content
    item.refresh_from_db()
    assert item.completed_on is None


def test_monthly_metrics(media_root):
    _register()
    rows = {m["month"]: m for m in monthly_metrics(today=_today())}
    assert sum(m["received"] for m in rows.values()) == 4
    assert sum(m["completed"] for m in rows.values()) == 2
    assert sum(m["overdue"] for m in rows.values()) == 2  # the late one and the open overdue
    medians = [m["median_days"] for m in rows.values() if m["median_days"] is not None]
    assert sorted(medians) in ([5, 40], [22.5])
    assert len(rows) == 12


# --- audit log -----------------------------------------------------------------------------


def test_each_change_is_audit_logged(media_root, users):
    item = _create("DSR-1", 3, user=users.manager)
    request_update(request=item, reference="DSR-1", kind="objection",
                   received_on=item.received_on, user=users.manager)  # fmt: skip
    _complete(item, 0, user=users.manager)
    events = list(AuditEvent.objects.filter(action__startswith="privacy.request_")
                  .order_by("pk").values_list("action", "details"))  # fmt: skip
    assert [a for a, _ in events] == ["privacy.request_created", "privacy.request_updated",
                                      "privacy.request_completed"]  # fmt: skip
    assert events[1][1]["changed"] == {"kind": ["access", "objection"]}
    assert AuditEvent.objects.filter(action="privacy.evidence_refreshed").count() == 3


# --- evidence ------------------------------------------------------------------------------


def test_register_snapshot_verdicts(media_root, catalogs):
    _register()
    item = privacy_evidence_refresh()
    findings = {
        (f.assertion_id, f.resource): f.status for f in Finding.objects.filter(evidence=item)
    }
    on_time = "privacy_requests.completed_on_time"
    overdue = "privacy_requests.none_overdue"
    assert {r: s for (a, r), s in findings.items() if a == on_time} == {
        "DSR-ON-TIME": "pass", "DSR-LATE": "fail"}  # fmt: skip
    assert {r: s for (a, r), s in findings.items() if a == overdue} == {
        "DSR-ON-TIME": "pass",
        "DSR-LATE": "pass",
        "DSR-OVERDUE": "fail",
        "DSR-OPEN": "pass",
    }
    document = json.loads(artifact_read(item.artifact_path))
    assert [c["name"] for c in document["columns"]] == [
        "reference", "kind", "received_on", "due_on", "completed_on", "status",
        "days_to_complete"]  # fmt: skip
    rows = {r["reference"]: r for r in document["rows"]}
    assert rows["DSR-LATE"]["days_to_complete"] == 40 and rows["DSR-OVERDUE"]["status"] == "overdue"
    text = json.dumps(document)
    assert "Called twice" not in text and "answer.pdf" not in text
    assert item.collector_key == "privacy_requests" and item.row_count == 4


def test_each_change_and_the_daily_job_refresh_the_evidence(media_root):
    item = _create("DSR-1", 3)
    assert EvidenceItem.objects.filter(collector_key="privacy_requests").count() == 1
    _complete(item, 0)
    assert EvidenceItem.objects.filter(collector_key="privacy_requests").count() == 2
    result = privacy_daily_job()
    latest = EvidenceItem.objects.filter(collector_key="privacy_requests").latest("seq")
    assert result == {"evidence": latest.seq, "requests": 1}


# --- commitment ----------------------------------------------------------------------------


def test_the_30_day_commitment_follows_the_register(media_root, catalogs):
    from pixaudit.commitments.models import Commitment
    from pixaudit.commitments.selectors import commitment_states
    from pixaudit.commitments.services import commitments_load_builtin

    commitments_load_builtin()
    commitment = Commitment.objects.get(key="data-rights-30-days")
    assert commitment.statement == "Within 30 days for data rights requests"
    assert set(commitment.assertion_ids) == {"privacy_requests.completed_on_time",
                                             "privacy_requests.none_overdue"}  # fmt: skip

    def status() -> str:
        return next(s for s in commitment_states() if s.commitment.key == commitment.key).status

    assert status() == "no_evidence"
    _complete(_create("DSR-ON-TIME", 40), 35)
    assert status() == "passing"
    _create("DSR-OVERDUE", 45)
    assert status() == "failing"


def test_nothing_is_saved_when_the_evidence_cannot_be_stored(settings, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the media directory should be")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocked)}}}  # fmt: skip
    with pytest.raises(PrivacyError, match="Nothing was saved"):
        _create("DSR-1", 3)
    assert not DataSubjectRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="privacy.request_created").exists()
