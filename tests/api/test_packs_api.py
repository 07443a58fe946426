"""Evidence packs in the REST API: build a rendered report's pack, poll the build, download
the stored ZIP; the site's rules (admins and compliance managers, internal builds only, the
same person's build under way reused), the packs services and the same audit events.

The report is rendered for real (WeasyPrint, through the job after the request's commit) for
one AWS account of two, and its pack is built by the real job in-process.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from pixaudit.api.views_packs import ENGINEER_REFUSAL
from pixaudit.api.views_reports import AUDITOR_REFUSAL
from pixaudit.auditlog.models import AuditEvent
from pixaudit.controls.models import Framework
from pixaudit.reports import signing
from pixaudit.reports.models import PackAudience, PackBuild, PackBuildStatus, Report, ReportStatus
from pixaudit.reports.services import report_create, report_scope_resolve
from pixaudit.reports.services_packs import (
    pack_build_execute,
    pack_build_request,
    pack_builds_sweep,
)
from pixaudit.reports.verify import verify_pack
from tests.api import test_reports_api as reports_api
from tests.api.helpers import api_client, token_for
from tests.dashboard.conftest import media_root  # noqa: F401
from tests.security.helpers import client_for, report_make

pytestmark = pytest.mark.django_db

# The reports API's world: catalogs, AWS accounts A and B each with one collected bucket, one
# user of each role and an engagement with its auditor.
org, people = reports_api.org, reports_api.people
A, FRAMEWORK, _manager, _post = (reports_api.A, reports_api.FRAMEWORK, reports_api._manager,
                                 reports_api._post)  # fmt: skip

REPORTS = "/api/v1/reports/"
BUILDS = "/api/v1/pack-builds/"


def _packs(report_id: int) -> str:
    return f"{REPORTS}{report_id}/packs/"


def _ask(client, report_id: int, body: dict | None = None):
    return client.post(_packs(report_id), body or {}, content_type="application/json")


@pytest.fixture
def rendered(people):
    """A stored engagement report (a small real PDF, pinned evidence), no render needed."""
    return report_make(engagement=people["engagement"],
                       framework=Framework.objects.get(key="soc2-2017"))  # fmt: skip


def test_build_poll_and_download_the_pack_of_a_report_limited_to_one_aws_account(
    people, tmp_path, django_capture_on_commit_callbacks
):
    client = _manager(people)
    with django_capture_on_commit_callbacks(execute=True):
        asked = _post(client, {"framework": FRAMEWORK, "aws_account": A})
    assert asked.status_code == 202, asked.content
    report = client.get(asked.json()["url"]).json()
    assert report["status"] == "succeeded", report["error_message"]

    with django_capture_on_commit_callbacks(execute=True):
        response = _ask(client, report["id"])
        # Answered before the build: the job is queued when the request's transaction commits.
        assert response.status_code == 202, response.content
        queued = response.json()
        assert queued["status"] == "queued" and queued["active"] is True
        assert queued["sha256"] is None and queued["download_url"] is None
        assert queued["size"] is None and queued["manifest_sha256"] is None
    build = PackBuild.objects.get()
    assert response["Location"] == queued["url"] == f"http://testserver{BUILDS}{build.pk}/"
    assert (queued["report"], queued["framework"], queued["requested_by"]) == (
        report["id"], FRAMEWORK, "manager-r",
    )  # fmt: skip
    assert queued["aws_scope"] == report["aws_scope"] == {
        "account": A, "ou": "", "label": f"AWS account {A} web-prod",
    }  # fmt: skip

    body = client.get(queued["url"]).json()
    build.refresh_from_db()
    assert body["status"] == "succeeded", body["error_message"]
    assert body["active"] is False and body["progress"] == 100 and body["error_message"] is None
    assert body["sha256"] == build.sha256 and len(body["sha256"]) == 64
    assert body["size"] == build.size > 0
    assert body["manifest_sha256"] == build.manifest_sha256 and len(build.manifest_sha256) == 64
    assert body["finished_at"] and body["created_at"] and body["swept_at"] is None
    assert body["swept_message"] is None and body["retry_of"] is None
    assert body["download_url"] == f"http://testserver{BUILDS}{build.pk}/download/"
    assert body["report_url"] == f"http://testserver{REPORTS}{report['id']}/"
    assert body["page_url"] == f"http://testserver{reverse('reports:pack_detail', args=[build.pk])}"

    download = client.get(body["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == body["sha256"]
    assert (
        download["ETag"] == f'"{body["sha256"]}"' and download["X-Content-SHA256"] == build.sha256
    )
    assert download["Content-Length"] == str(len(data)) == str(body["size"])
    assert "attachment" in download["Content-Disposition"]
    assert f"-aws-{A}-evidence-pack.zip" in download["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        manifest = zf.read("manifest.json")
        pdf = next(n for n in zf.namelist() if n.endswith(".pdf"))
        stored_pdf = Report.objects.get(pk=report["id"])
        assert hashlib.sha256(zf.read(pdf)).hexdigest() == stored_pdf.sha256  # the original
    assert hashlib.sha256(manifest).hexdigest() == body["manifest_sha256"]
    assert json.loads(manifest)  # a JSON manifest, signed:
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    assert verify_pack(path, public_key_pem=signing.public_key_pem()).ok
    again = client.get(body["download_url"], headers={"If-None-Match": download["ETag"]})
    assert again.status_code == 304 and again["ETag"] == download["ETag"]

    listed = client.get(_packs(report["id"])).json()
    assert [b["id"] for b in listed["results"]] == [build.pk]
    assert listed["results"][0]["sha256"] == body["sha256"]

    requested = AuditEvent.objects.get(action="pack.build_requested")
    assert requested.actor_id == people["manager"].pk
    assert requested.object_id == str(report["id"])
    assert requested.details["pack_build_id"] == build.pk
    assert requested.details["aws_scope"] == body["aws_scope"]
    assert "pxa_" in requested.details["api_token"]
    downloaded = AuditEvent.objects.get(action="pack.downloaded")  # the 304 is not one
    assert downloaded.details["sha256"] == body["sha256"] and downloaded.details["size"] == len(
        data
    )
    assert downloaded.details["manifest_sha256"] == body["manifest_sha256"]
    assert downloaded.details["pack_build_id"] == build.pk
    assert downloaded.details["aws_scope"]["account"] == A
    assert "pxa_" in downloaded.details["api_token"]


def test_a_pack_is_refused_until_the_report_is_rendered_and_when_it_failed(people):
    client = _manager(people)
    report = report_create(scope=report_scope_resolve(framework_key=FRAMEWORK, aws_account=A))
    waiting = _ask(client, report.pk)
    assert waiting.status_code == 409 and waiting["Content-Type"] == "application/problem+json"
    assert waiting.json()["detail"] == (
        f"Report {report.pk} is not rendered yet (queued, 0%): its evidence pack can be built "
        f"once it is; poll GET /api/v1/reports/{report.pk}/ until its status is succeeded."
    )
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.FAILED, error_message="OSError: No space left on device"
    )
    failed = _ask(client, report.pk)
    assert failed.status_code == 409
    assert failed.json()["detail"] == (
        f"Report {report.pk} failed (OSError: No space left on device), so it has no evidence "
        "pack; request a new report with POST /api/v1/reports/ and build the pack of that one."
    )
    missing = _ask(client, 999999)
    assert missing.status_code == 404 and missing.json()["detail"] == "No report with id 999999."
    assert client.get(_packs(999999)).status_code == 404
    assert client.get(_packs(report.pk)).json()["results"] == []
    assert not PackBuild.objects.exists()
    assert not AuditEvent.objects.filter(action="pack.build_requested").exists()


def test_a_build_under_way_is_returned_and_the_download_waits_for_it(people, rendered):
    client = _manager(people)
    # Not executing on-commit callbacks: the build stays queued, as behind a busy worker.
    first = _ask(client, rendered.pk)
    assert first.status_code == 202, first.content
    body = first.json()
    again = client.generic("POST", _packs(rendered.pk))  # no body at all (curl -X POST)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again["Location"] == body["url"]
    assert AuditEvent.objects.filter(action="pack.build_requested").count() == 1  # as the site
    waiting = client.get(f"{body['url']}download/")
    assert waiting.status_code == 409
    assert waiting.json()["detail"] == (
        f"Pack build {body['id']} is not built yet (queued, 0%): poll GET "
        f"/api/v1/pack-builds/{body['id']}/ until its status is succeeded."
    )
    # Another manager's request is theirs (the service reuses one person's build only).
    admin = api_client(token_for(people["admin"], ["read", "write:reports"]))
    other = _ask(admin, rendered.pk)
    assert other.status_code == 202 and other.json()["id"] != body["id"]
    # The job runs: the download is the stored file.
    pack_build_execute(build_id=body["id"])
    done = client.get(body["url"]).json()
    assert done["status"] == "succeeded" and done["download_url"]
    data = b"".join(client.get(done["download_url"]).streaming_content)
    assert hashlib.sha256(data).hexdigest() == done["sha256"]
    # Done: a new request builds anew (the site's "Build the evidence pack" does too).
    fresh = _ask(client, rendered.pk)
    assert fresh.status_code == 202 and fresh.json()["id"] not in (body["id"], other.json()["id"])
    listed = client.get(_packs(rendered.pk)).json()["results"]
    assert [b["id"] for b in listed] == sorted((b["id"] for b in listed), reverse=True)
    assert len(listed) == 3


def test_a_failed_build_says_why_and_is_built_again_with_retry_of(people, rendered):
    client = _manager(people)
    build_id = _ask(client, rendered.pk).json()["id"]
    PackBuild.objects.filter(pk=build_id).update(
        status=PackBuildStatus.FAILED, finished_at=timezone.now(),
        error_message="The evidence pack cannot be built: evidence 7 is missing.",
    )  # fmt: skip
    body = client.get(f"{BUILDS}{build_id}/").json()
    assert body["status"] == "failed" and body["active"] is False
    assert body["error_message"] == "The evidence pack cannot be built: evidence 7 is missing."
    assert body["download_url"] is None and body["sha256"] is None
    failed = client.get(f"{BUILDS}{build_id}/download/")
    assert failed.status_code == 409
    assert failed.json()["detail"] == (
        f"Pack build {build_id} failed and has no file (The evidence pack cannot be built: "
        f"evidence 7 is missing); build it again with POST {_packs(rendered.pk)} "
        f'{{"retry_of": {build_id}}}.'
    )
    retry = _ask(client, rendered.pk, {"retry_of": build_id})
    assert retry.status_code == 202, retry.content
    assert retry.json()["retry_of"] == build_id and retry.json()["status"] == "queued"
    # Bad bodies are named.
    cases = [
        ({"retry_of": 999999}, {"retry_of": f"Report {rendered.pk} has no pack build 999999."}),
        ({"retry_of": retry.json()["id"]},
         {"retry_of": f"Pack build {retry.json()['id']} has not failed (it is queued): only a "
                      "failed build is built again; leave retry_of out to build a new pack."}),
        ({"retry_of": "x"}, {"retry_of": "A valid integer is required."}),
        ({"colour": "blue"}, {None: "Unknown field(s): colour (known: retry_of)."}),
    ]  # fmt: skip
    for request_body, expected in cases:
        response = _ask(client, rendered.pk, request_body)
        assert response.status_code == 400, (request_body, response.content)
        errors = {e["field"]: e["detail"] for e in response.json()["errors"]}
        assert errors == expected, request_body
    not_an_object = client.post(_packs(rendered.pk), "[1]", content_type="application/json")
    assert not_an_object.status_code == 400, not_an_object.content
    assert PackBuild.objects.count() == 2


def test_a_swept_build_is_gone_and_says_how_to_build_again(people, rendered):
    client = _manager(people)
    old = pack_build_execute(build_id=_ask(client, rendered.pk).json()["id"])
    latest = pack_build_execute(build_id=_ask(client, rendered.pk).json()["id"])
    assert old.status == latest.status == PackBuildStatus.SUCCEEDED
    PackBuild.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=40))
    assert pack_builds_sweep(now=timezone.now()) == [old.pk]
    assert not default_storage.exists(old.file_path)
    body = client.get(f"{BUILDS}{old.pk}/").json()
    when = timezone.now().strftime("%Y-%m-%d")
    message = (
        f"The file of build {old.pk} was removed on {when} by the retention policy (builds are "
        "kept 30 days, the latest one of each pack always): build the pack again to download "
        f"it (POST {_packs(rendered.pk)})."
    )
    assert body["swept_at"] and body["swept_message"] == message
    assert body["download_url"] is None
    assert body["sha256"] == old.sha256  # the record stays
    gone = client.get(f"{BUILDS}{old.pk}/download/")
    assert gone.status_code == 410 and gone["Content-Type"] == "application/problem+json"
    assert gone.json()["detail"] == message and gone.json()["title"] == "Gone"
    gone_etag = client.get(f"{BUILDS}{old.pk}/download/",
                           headers={"If-None-Match": f'"{old.sha256}"'})  # fmt: skip
    assert gone_etag.status_code == 410
    assert client.get(f"{BUILDS}{latest.pk}/download/").status_code == 200  # kept
    # A stored file that changed since it was built is refused, not served.
    with default_storage.open(latest.file_path, "wb") as fh:
        fh.write(b"not the pack")
    changed = client.get(f"{BUILDS}{latest.pk}/download/")
    assert changed.status_code == 409
    assert changed.json()["detail"] == (
        f"The stored pack of build {latest.pk} changed since it was built: build it again "
        f"(POST {_packs(rendered.pk)})."
    )
    assert AuditEvent.objects.filter(action="pack.downloaded").count() == 1


def test_roles_and_scopes_follow_the_pack_pages(people, rendered):
    built = pack_build_execute(build_id=_ask(_manager(people), rendered.pk).json()["id"])
    urls = [_packs(rendered.pk), f"{BUILDS}{built.pk}/", f"{BUILDS}{built.pk}/download/"]
    # Engineers read reports but not packs (as on the site), said so.
    engineer = api_client(token_for(people["engineer"]))
    for url in urls:
        response = engineer.get(url)
        assert response.status_code == 403 and response.json()["detail"] == ENGINEER_REFUSAL
    assert _ask(engineer, rendered.pk).json()["detail"] == ENGINEER_REFUSAL
    assert engineer.get(f"{REPORTS}{rendered.pk}/pdf/").status_code == 200  # as it says
    # Auditors: packs through their engagement's page, said so.
    auditor = api_client(token_for(people["auditor"], ["read"]))
    for url in urls:
        response = auditor.get(url)
        assert response.status_code == 403 and response.json()["detail"] == AUDITOR_REFUSAL
    assert _ask(auditor, rendered.pk).json()["detail"] == AUDITOR_REFUSAL
    # A manager's token needs write:reports to build, read to follow and download.
    read_only = api_client(token_for(people["manager"], ["read"]))
    refused = _ask(read_only, rendered.pk)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This token does not have the 'write:reports' scope."
    for url in urls:
        assert read_only.get(url).status_code == 200, url
    # An engagement build (its PDF stamped for the auditor who asked) is not served here.
    stamped, _ = pack_build_request(
        report=rendered, requested_by=people["auditor"], audience=PackAudience.ENGAGEMENT,
        viewer_label="Auditor",
    )  # fmt: skip
    for url in (f"{BUILDS}{stamped.pk}/", f"{BUILDS}{stamped.pk}/download/"):
        assert read_only.get(url).status_code == 404, url
    assert [b["id"] for b in read_only.get(urls[0]).json()["results"]] == [built.pk]
    # Admins build like managers; no token, or a session: 401.
    admin = api_client(token_for(people["admin"], ["read", "write:reports"]))
    assert _ask(admin, rendered.pk).status_code == 202
    assert api_client(None).get(urls[1]).status_code == 401
    assert client_for(people["manager"]).get(urls[1]).status_code == 401
    # Only the manager's download was one (refusals serve and log nothing).
    downloads = AuditEvent.objects.filter(action="pack.downloaded")
    assert [e.actor_id for e in downloads] == [people["manager"].pk]


def test_schema_and_reference_page_show_the_pack_endpoints(people):
    client = api_client(token_for(people["manager"], ["read"]))
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    post = paths["/api/v1/reports/{id}/packs/"]["post"]
    assert post["x-pixaudit-scope"] == "write:reports"
    assert post["x-pixaudit-roles"] == "admin, compliance_manager"
    assert {"200", "202", "400", "403", "409"} <= set(post["responses"])
    assert "application/problem+json" in post["responses"]["409"]["content"]
    detail = paths["/api/v1/pack-builds/{id}/"]["get"]
    assert detail["x-pixaudit-scope"] == "read"
    assert detail["x-pixaudit-roles"] == "admin, compliance_manager"
    download = paths["/api/v1/pack-builds/{id}/download/"]["get"]
    assert "application/zip" in download["responses"]["200"]["content"]
    for code in ("409", "410"):
        assert "application/problem+json" in download["responses"][code]["content"], code
    page = client_for(people["manager"]).get(reverse("api:reference"))
    text = page.content.decode()
    for path in ("/api/v1/reports/{id}/packs/", "/api/v1/pack-builds/{id}/",
                 "/api/v1/pack-builds/{id}/download/"):  # fmt: skip
        assert f"<code>{path}</code>" in text, path
