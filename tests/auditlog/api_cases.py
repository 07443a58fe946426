"""The REST API's URLs classified for the audit coverage test (``test_audit_coverage``).

Token clients: every API change and download must record its action naming the token;
``API_READS`` record nothing. Also the two form builders the site's cases share with these
(``first_entry``, ``upload_data``); ``test_audit_coverage`` imports from here, never the
other way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from pixaudit.api.services import token_create
from tests.security.fixtures import World
from tests.security.helpers import pdf_make
from tests.security.matrix_objects import PACK

Kwargs = Callable[[World], dict]
NONE: Kwargs = lambda w: {}  # noqa: E731


def first_entry(w: World):
    return w.campaign.entries.order_by("pk").first()


def upload_data(w: World) -> dict:
    today = timezone.now().date()
    upload = SimpleUploadedFile("pentest.pdf", pdf_make("pen test"), "application/pdf")
    return {"title": "Pen test 2027", "kind": "other", "effective_on": today.isoformat(),
            "valid_until": (today + timedelta(days=365)).isoformat(),
            "controls": "soc2-2017:CC6.1", "file": upload}  # fmt: skip


def _api_as(role: str, scopes: list[str]) -> Callable[[World], Client]:
    def make(w: World) -> Client:
        user = {"A": w.admin, "M": w.manager, "E": w.engineer, "AU": w.auditor}[role]
        secret = token_create(user=user, name="audit-test", scopes=scopes).secret
        return Client(headers={"Authorization": f"Bearer {secret}"})

    return make


@dataclass
class ApiCase:
    who: Callable[[World], Client]
    action: str
    kwargs: Kwargs
    body: Callable[[World], dict] = field(default=lambda w: {})
    multipart: bool = False


_PUSH_ROW = {"deployment": "acme/shop@production#1", "repository": "acme/shop",
             "commit": "abc123", "deployed_at": "2026-03-01T10:00:00Z", "author": "alice",
             "reviewers": ["bob"], "tests_passed": True}  # fmt: skip
API_CHANGES: dict[str, ApiCase] = {
    "api:connection_run": ApiCase(
        _api_as("E", ["write:runs"]), "connection.run_requested", lambda w: {"pk": w.connection.pk}
    ),  # fmt: skip
    "api:manual_evidence": ApiCase(
        _api_as("M", ["write:evidence"]),
        "manual_evidence.upload",
        NONE,
        upload_data,
        multipart=True,
    ),  # fmt: skip
    "api:request_answer": ApiCase(
        _api_as("M", ["write:evidence"]),
        "evidence_request.answered",
        lambda w: {"pk": w.engagement.pk, "request_pk": w.request.pk},
        lambda w: {"note": "See the attached log."},
    ),  # fmt: skip
    "api:review_decisions": ApiCase(
        _api_as("M", ["write:evidence"]),
        "review.decide",
        lambda w: {"pk": w.campaign.pk},
        lambda w: {"decisions": [{"entry": first_entry(w).pk, "decision": "keep"}]},
    ),  # fmt: skip
    "api:push": ApiCase(
        _api_as("E", ["write:evidence"]),
        "evidence.pushed",
        lambda w: {"key": "ci_deployments"},
        lambda w: {"rows": [_PUSH_ROW]},
    ),  # fmt: skip
    "api:report_list": ApiCase(
        _api_as("M", ["write:reports"]),
        "report.requested",
        NONE,
        lambda w: {
            "framework": "soc2-2017",
            "period_start": str(w.engagement.window_start),
            "period_end": str(w.engagement.window_end),
        },
    ),  # fmt: skip
    "api:report_packs": ApiCase(
        _api_as("M", ["write:reports"]), "pack.build_requested", lambda w: {"pk": w.report.pk}
    ),  # fmt: skip
}
API_DOWNLOADS: dict[str, ApiCase] = {
    "api:evidence_artifact": ApiCase(
        _api_as("E", ["read"]), "evidence.downloaded", lambda w: {"pk": w.evidence_in.pk}
    ),  # fmt: skip
    "api:engagement_artifact": ApiCase(
        _api_as("AU", ["read"]),
        "evidence.downloaded",
        lambda w: {"pk": w.engagement.pk, "evidence_pk": w.evidence_in.pk},
    ),  # fmt: skip
    "api:report_pdf": ApiCase(
        _api_as("E", ["read"]), "report.downloaded", lambda w: {"pk": w.report.pk}
    ),  # fmt: skip
    "api:pack_build_download": ApiCase(_api_as("M", ["read"]), "pack.downloaded", PACK),
}
API_READS = frozenset({
    "api:schema", "api:framework_list", "api:framework_controls", "api:framework_coverage",
    "api:finding_list",
    "api:evidence_list", "api:evidence_detail", "api:run_list", "api:run_detail",
    "api:connection_list", "api:connection_detail", "api:engagement_list",
    "api:engagement_evidence", "api:audit_log", "api:commitment_list", "api:report_detail",
    "api:pack_build_detail",
})  # fmt: skip
