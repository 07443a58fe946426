"""Reports in the REST API: request a render, poll it, download the PDF; the report page's
rules (managers request, internal users read and download, auditors only through their
engagement) and the reports service's validation, with the same audit events.

Two AWS accounts of one integration (A under Root/prod, B under Root/sandbox), each with one
unencrypted bucket, collected by the real runner; renders run through the real job
(in-process queue, after the request's transaction commits) and WeasyPrint.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from pixaudit.accounts.models import Role
from pixaudit.api.views_reports import AUDITOR_REFUSAL
from pixaudit.auditlog.models import AuditEvent
from pixaudit.awsorg.models import AwsAccount, AwsAccountConnection, AwsIntegration
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.models import EvidenceItem
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.reports.models import Report, ReportStatus
from pixaudit.reports.services import report_create, report_scope_resolve
from tests.api.helpers import api_client, token_for
from tests.dashboard.conftest import media_root  # noqa: F401
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for
from tests.reports.test_report_scope import _pdf_text
from tests.security.helpers import (
    client_for,
    engagement_make,
    invitation_make,
    report_make,
    user_make,
)

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/reports/"
FRAMEWORK = "iso27001-2022"
PROD, SANDBOX = "ou-ab12-prod0001", "ou-ab12-sand0001"
A, B = "111111111111", "222222222222"


@pytest.fixture
def org(db, media_root):  # noqa: F811
    """Catalogs; accounts A (Root/prod) and B (Root/sandbox), one unencrypted bucket each."""
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    integration = AwsIntegration.objects.create(
        name="Org", mode="organization", collectors=["demo_inventory"]
    )
    for account, name, ou, path in ((A, "web-prod", PROD, "Root/prod"),
                                    (B, "play", SANDBOX, "Root/sandbox")):  # fmt: skip
        AwsAccount.objects.create(
            integration=integration, account_id=account, name=name, ou=ou, ous=[ou],
            ou_path=path, last_seen_at=timezone.now(),
        )  # fmt: skip
        resources = [{"name": f"bucket-{name}", "kind": "storage", "encrypted": False,
                      "key_age_days": 10, "owner": "ops"}]  # fmt: skip
        conn = connection_create(name=f"Org · {account} · demo", collector_key="demo_inventory",
                                 params={"resources": json.dumps(resources)})  # fmt: skip
        AwsAccountConnection.objects.create(
            integration=integration, account_id=account, collector_key="demo_inventory",
            connection=conn,
        )  # fmt: skip
        run = collection_run_create(connection=conn, trigger="manual")
        run = collection_run_execute(run_id=run.pk)
        assert run.status == "succeeded", run.error_message
    return integration


@pytest.fixture
def people(org):
    today = timezone.now().date()
    soc2 = Framework.objects.get(key="soc2-2017")
    engagement = engagement_make(framework=soc2, start=today - timedelta(days=20), end=today)
    auditor = user_make(Role.AUDITOR, "auditor-r")
    invitation_make(engagement=engagement, user=auditor)
    return {
        "admin": user_make(Role.ADMIN, "admin-r"),
        "manager": user_make(Role.COMPLIANCE_MANAGER, "manager-r"),
        "engineer": user_make(Role.ENGINEER, "engineer-r"),
        "auditor": auditor,
        "engagement": engagement,
    }


def _manager(people):
    return api_client(token_for(people["manager"], ["read", "write:reports"]))


def _post(client, body):
    return client.post(REPORTS, body, content_type="application/json")


def _errors(response) -> dict[str | None, str]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return {e["field"]: e["detail"] for e in response.json()["errors"]}


def test_request_poll_and_download_a_report_limited_to_one_aws_account(
    people, tmp_path, django_capture_on_commit_callbacks
):
    client = _manager(people)
    period = {"period_start": str(date.today() - timedelta(days=6)),
              "period_end": str(date.today())}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, {"framework": FRAMEWORK, **period, "aws_account": A})
        # Answered before the render: the job is queued when the request's transaction commits.
        assert response.status_code == 202, response.content
        queued = response.json()
        assert queued["status"] == "queued" and queued["active"] is True
        assert queued["sha256"] is None and queued["pdf_url"] is None
        assert queued["chain_head"] is None and queued["evidence_pin"] is None
    report = Report.objects.get()
    assert response["Location"] == queued["url"] == f"http://testserver{REPORTS}{report.pk}/"
    assert queued["aws_scope"] == {"account": A, "ou": "", "label": f"AWS account {A} web-prod"}
    assert (queued["framework"], queued["created_by"]) == (FRAMEWORK, "manager-r")
    assert (queued["period_start"], queued["period_end"]) == (
        period["period_start"], period["period_end"],
    )  # fmt: skip

    body = client.get(queued["url"]).json()
    report.refresh_from_db()
    assert body["status"] == "succeeded", body["error_message"]
    assert body["active"] is False and body["progress"] == 100 and body["error_message"] is None
    assert body["sha256"] == report.sha256 and len(body["sha256"]) == 64
    assert body["page_count"] == report.page_count > 1 and body["size"] == report.size
    head = EvidenceItem.objects.order_by("-seq").first()
    assert body["chain_head"] == {"seq": head.seq, "hash": head.chain_hash}
    assert body["evidence_pin"]["evidence_count"] == 1  # A's item only: B's is out of scope
    assert body["aws_scope"] == queued["aws_scope"]
    assert body["pdf_url"] == f"http://testserver{REPORTS}{report.pk}/pdf/"
    assert body["page_url"] == f"http://testserver{reverse('reports:detail', args=[report.pk])}"

    pdf = client.get(body["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = b"".join(pdf.streaming_content)
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == body["sha256"]
    assert pdf["ETag"] == f'"{body["sha256"]}"' and pdf["Content-Length"] == str(len(data))
    assert f"-aws-{A}.pdf" in pdf["Content-Disposition"]
    text = _pdf_text(data, tmp_path)
    assert f"Limited to AWS account {A} web-prod" in text
    assert "bucket-web-prod" in text and "bucket-play" not in text
    again = client.get(body["pdf_url"], headers={"If-None-Match": pdf["ETag"]})
    assert again.status_code == 304

    requested = AuditEvent.objects.get(action="report.requested")
    assert requested.actor_id == people["manager"].pk and requested.object_id == str(report.pk)
    assert requested.details["aws_scope"] == queued["aws_scope"]
    assert "pxa_" in requested.details["api_token"]
    downloaded = AuditEvent.objects.get(action="report.downloaded")  # the 304 is not one
    assert downloaded.details["sha256"] == body["sha256"]
    assert downloaded.details["aws_scope"]["account"] == A
    assert "pxa_" in downloaded.details["api_token"]


def test_refusals_carry_the_services_messages_and_create_nothing(people):
    client = _manager(people)
    loaded = ", ".join(Framework.objects.order_by("key").values_list("key", flat=True))
    cases = [
        ({"framework": "nope"},
         {"framework": f"Framework 'nope' is not loaded (loaded: {loaded}; run manage.py "
                       "load_catalogs)."}),
        ({}, {"framework": "A framework is required (e.g. soc2-2017)."}),
        ({"framework": FRAMEWORK, "period_start": "2026-02-01", "period_end": "2026-01-01"},
         {"period_end": "The period ends (2026-01-01) before it starts (2026-02-01)."}),
        ({"framework": FRAMEWORK, "aws_account": "999999999999"},
         {"aws_account": "AWS account '999999999999' has no collected evidence: choose one of "
                         "the accounts an AWS integration collects."}),
        ({"framework": FRAMEWORK, "aws_ou": "ou-zz99-nothere1"},
         {"aws_ou": "OU 'ou-zz99-nothere1' is not above any collected AWS account: choose one "
                    "of the OUs an AWS integration's account listing found."}),
        ({"framework": FRAMEWORK, "aws_account": A, "aws_ou": PROD},
         {"aws_account": "Limit the report to one AWS account or to one OU, not both."}),
        ({"framework": FRAMEWORK, "period_start": "1 March"},
         {"period_start": "Date has wrong format. Use one of these formats instead: "
                          "YYYY-MM-DD."}),
        ({"framework": FRAMEWORK, "colour": "blue"},
         {None: "Unknown field(s): colour (known: framework, period_start, period_end, "
                "engagement, include_privacy_register, aws_account, aws_ou)."}),
        ({"engagement": 999999}, {"engagement": "No engagement with id 999999."}),
        ({"engagement": people["engagement"].pk, "framework": FRAMEWORK},
         {"framework": f"Engagement {people['engagement'].pk} does not cover {FRAMEWORK} (it "
                       "covers soc2-2017)."}),
        ({"engagement": people["engagement"].pk, "period_end": "2026-01-01",
          "include_privacy_register": True},
         {"period_end": "An engagement's report covers the engagement's window: leave "
                        "period_start and period_end out.",
          "include_privacy_register": "An engagement's report includes the data-subject "
          "request register when the engagement shares it with its auditors: leave this "
          "out."}),
    ]  # fmt: skip
    for body, expected in cases:
        response = _post(client, body)
        assert _errors(response) == expected, body
        assert response.json()["detail"]  # every message is in the detail line too
    assert not Report.objects.exists()
    assert not AuditEvent.objects.filter(action="report.requested").exists()
    # The report page says the same about the same unknown account.
    page = client_for(people["manager"]).post(
        reverse("reports:list"),
        {"framework": FRAMEWORK, "start": "2026-01-01", "end": "2026-01-31",
         "aws_account": "999999999999"},
    )  # fmt: skip
    assert escape(cases[3][1]["aws_account"]) in page.content.decode()


def test_an_engagement_report_is_queued_once_for_its_window(people):
    engagement = people["engagement"]
    client = _manager(people)
    # Not executing on-commit callbacks: the report stays queued, as behind a busy worker.
    first = _post(client, {"engagement": engagement.pk, "aws_ou": PROD})
    assert first.status_code == 202, first.content
    body = first.json()
    assert body["engagement"] == engagement.pk and body["framework"] == "soc2-2017"
    assert (body["period_start"], body["period_end"]) == (
        str(engagement.window_start), str(engagement.window_end),
    )  # fmt: skip
    assert body["aws_scope"] == {"account": "", "ou": PROD, "label": f"OU Root/prod ({PROD})"}
    again = _post(client, {"engagement": engagement.pk, "framework": "soc2-2017",
                           "aws_ou": PROD})  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again["Location"] == body["url"]
    other_scope = _post(client, {"engagement": engagement.pk})
    assert other_scope.status_code == 202 and other_scope.json()["id"] != body["id"]
    assert Report.objects.filter(engagement_id=engagement.pk).count() == 2
    events = AuditEvent.objects.filter(action="report.requested")
    assert events.count() == 2 and all("pxa_" in e.details["api_token"] for e in events)
    # A second framework on the engagement: the request must name one.
    engagement.frameworks.add(Framework.objects.get(key=FRAMEWORK))
    refused = _post(client, {"engagement": engagement.pk})
    assert _errors(refused) == {
        "framework": f"Engagement {engagement.pk} covers {FRAMEWORK}, soc2-2017: name one of "
        "them in framework."
    }


def test_pdf_is_refused_until_rendered_and_when_failed(people):
    client = api_client(token_for(people["engineer"], ["read"]))
    report = report_create(scope=report_scope_resolve(framework_key=FRAMEWORK, aws_account=B))
    pdf_url = f"{REPORTS}{report.pk}/pdf/"
    waiting = client.get(pdf_url)
    assert waiting.status_code == 409 and waiting["Content-Type"] == "application/problem+json"
    assert waiting.json()["detail"] == (
        f"Report {report.pk} is not rendered yet (queued, 0%): poll GET /api/v1/reports/"
        f"{report.pk}/ until its status is succeeded."
    )
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.FAILED, error_message="OSError: No space left on device"
    )
    body = client.get(f"{REPORTS}{report.pk}/").json()
    assert (
        body["status"] == "failed" and body["error_message"] == "OSError: No space left on device"
    )
    assert body["pdf_url"] is None and body["sha256"] is None and body["active"] is False
    assert body["aws_scope"]["account"] == B
    failed = client.get(pdf_url)
    assert failed.status_code == 409
    assert failed.json()["detail"] == (
        f"Report {report.pk} failed and has no PDF (OSError: No space left on device); request "
        "a new one with POST /api/v1/reports/."
    )
    assert client.get(f"{REPORTS}999999/pdf/").status_code == 404
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()


def test_roles_and_scopes_follow_the_report_pages(people):
    from django.core.exceptions import ValidationError

    stored = report_make(engagement=people["engagement"],
                         framework=Framework.objects.get(key="soc2-2017"))  # fmt: skip
    urls = [REPORTS, f"{REPORTS}{stored.pk}/", f"{REPORTS}{stored.pk}/pdf/"]
    body = {"framework": "soc2-2017"}
    # Engineers read and download (as on /reports/), but may not request: no token of theirs
    # can hold write:reports.
    engineer = api_client(token_for(people["engineer"]))
    for url in urls:
        assert engineer.get(url).status_code == 200, url
    refused = _post(engineer, body)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This token does not have the 'write:reports' scope."
    with pytest.raises(ValidationError, match="write:reports"):
        token_for(people["engineer"], ["read", "write:reports"])
    # A manager's token needs the scope too.
    read_only = api_client(token_for(people["manager"], ["read"]))
    assert _post(read_only, body).status_code == 403
    # Auditors: reports only through their engagement's page, said so on every endpoint.
    auditor = api_client(token_for(people["auditor"], ["read"]))
    for url in urls:
        response = auditor.get(url)
        assert response.status_code == 403 and response.json()["detail"] == AUDITOR_REFUSAL
    assert _post(auditor, body).json()["detail"] == AUDITOR_REFUSAL
    assert (
        client_for(people["auditor"], verified=False)
        .get(reverse("audits:engagement_detail", args=[people["engagement"].pk]))
        .status_code
        == 200
    )  # where they get it
    # Admins request like managers.
    admin = api_client(token_for(people["admin"], ["read", "write:reports"]))
    assert _post(admin, body).status_code == 202
    # No token, a session: 401.
    assert api_client(None).get(REPORTS).status_code == 401
    assert client_for(people["manager"]).get(REPORTS).status_code == 401
    assert Report.objects.count() == 2


def test_list_filters_and_pages_newest_first(people):
    soc2 = report_scope_resolve(framework_key="soc2-2017")
    iso = report_scope_resolve(framework_key=FRAMEWORK)
    made = [report_create(scope=soc2 if i % 2 else iso) for i in range(5)]
    Report.objects.filter(pk=made[0].pk).update(status=ReportStatus.FAILED)
    client = api_client(token_for(people["engineer"], ["read"]))
    ids, url = [], f"{REPORTS}?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        ids += [r["id"] for r in page["results"]]
        url = page["next"]
    assert ids == sorted((r.pk for r in made), reverse=True)
    by_framework = client.get(f"{REPORTS}?framework=soc2-2017").json()["results"]
    assert {r["framework"] for r in by_framework} == {"soc2-2017"} and len(by_framework) == 2
    failed = client.get(f"{REPORTS}?status=failed").json()["results"]
    assert [r["id"] for r in failed] == [made[0].pk]
    bad = client.get(f"{REPORTS}?status=done&framework=nope&engagement=x")
    loaded = ", ".join(Framework.objects.order_by("key").values_list("key", flat=True))
    assert _errors(bad) == {
        "status": "One of: queued, running, succeeded, failed.",
        "framework": f"No framework 'nope' (loaded: {loaded}).",
        "engagement": "A whole number.",
    }
    by_engagement = client.get(f"{REPORTS}?engagement={people['engagement'].pk}").json()
    assert by_engagement["results"] == []


def test_schema_and_reference_page_show_the_report_endpoints(people):
    client = api_client(token_for(people["engineer"], ["read"]))
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    post = paths["/api/v1/reports/"]["post"]
    assert post["x-pixaudit-scope"] == "write:reports"
    assert post["x-pixaudit-roles"] == "admin, compliance_manager"
    assert {"200", "202", "400", "403"} <= set(post["responses"])
    assert paths["/api/v1/reports/"]["get"]["x-pixaudit-roles"] == (
        "admin, compliance_manager, engineer"
    )
    pdf = paths["/api/v1/reports/{id}/pdf/"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]
    assert "application/problem+json" in pdf["responses"]["409"]["content"]
    assert "/api/v1/reports/{id}/" in paths
    page = client_for(people["engineer"], verified=False).get(reverse("api:reference"))
    text = page.content.decode()
    for path in ("/api/v1/reports/", "/api/v1/reports/{id}/", "/api/v1/reports/{id}/pdf/"):
        assert f"<code>{path}</code>" in text, path
    assert "<code>write:reports</code>" in text


@pytest.fixture
def worker():
    from pixaudit.lib import embedded_worker

    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


@pytest.mark.django_db(transaction=True)
def test_post_answers_at_once_while_a_worker_renders(people, worker, monkeypatch):
    """With a worker (the embedded one, as in runserver), POST does not wait for the render;
    the report's url follows it to the PDF."""
    skip_on_shared_memory_sqlite()
    from pixaudit.reports import services
    from pixaudit.reports.rendering import RenderedPdf

    pdf = b"%PDF-1.7\n% stands in for WeasyPrint's seconds of work\n%%EOF\n"

    def slow_pdf(data, progress=None):
        time.sleep(3)
        return RenderedPdf(pdf, 1)

    monkeypatch.setattr(services, "report_pdf", slow_pdf)
    client = _manager(people)
    started = time.monotonic()
    response = _post(client, {"framework": "soc2-2017"})
    answered = time.monotonic() - started
    assert response.status_code == 202 and answered < 2.0, answered
    url = response.json()["url"]
    assert client.get(url).json()["status"] in ("queued", "running")
    assert client.get(f"{url}pdf/").status_code == 409
    body = wait_for(
        lambda: (b := client.get(url).json())["status"] == "succeeded" and b,
        timeout=60, what="the report to render",
    )  # fmt: skip
    assert body["sha256"] == hashlib.sha256(pdf).hexdigest() and body["page_count"] == 1
    download = client.get(body["pdf_url"])
    assert b"".join(download.streaming_content) == pdf
