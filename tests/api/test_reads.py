"""Reads: cursor pagination, filters, UTC time filters, ETags on artifacts, no secrets,
auditors scoped to their engagements, the audit log for admins only."""

from __future__ import annotations

import pytest

from pixaudit.auditlog.models import AuditEvent
from pixaudit.evidence.models import Finding
from pixaudit.evidence.services import connection_create
from tests.api.helpers import api_client, token_for

pytestmark = pytest.mark.django_db


def _all(client, url):
    rows, pages = [], 0
    while url:
        body = client.get(url).json()
        rows += body["results"]
        url, pages = body["next"], pages + 1
    return rows, pages


def test_cursor_pages_read_every_finding_once(world):
    client = api_client(token_for(world.engineer, ["read"]))
    rows, pages = _all(client, "/api/v1/findings/?page_size=7")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == Finding.objects.count() > 7
    assert pages == -(-len(ids) // 7)
    assert ids == sorted(ids, reverse=True)
    big = client.get("/api/v1/findings/?page_size=100000").json()
    assert len(big["results"]) == min(1000, len(ids))


def test_filters(world):
    from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry

    check_mappings_sync_from_registry()
    client = api_client(token_for(world.engineer, ["read"]))
    failing = client.get("/api/v1/findings/?status=fail&page_size=1000").json()["results"]
    assert failing and {r["status"] for r in failing} == {"fail"}
    assert len(failing) == Finding.objects.filter(status="fail").count()
    some = Finding.objects.order_by("id").first()
    by_assertion = client.get(f"/api/v1/findings/?assertion={some.assertion_id}").json()
    assert {r["assertion_id"] for r in by_assertion["results"]} == {some.assertion_id}
    by_control = client.get("/api/v1/findings/?control=soc2-2017:CC6.1&page_size=1000").json()
    assert by_control["results"]
    assert client.get("/api/v1/findings/?control=soc2-2017:NOPE").status_code == 400
    after = world.evidence_in.collected_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    later = client.get(f"/api/v1/evidence/?since={after}&page_size=1000").json()["results"]
    assert later and all(r["collected_at"] >= after for r in later)
    before = client.get(f"/api/v1/evidence/?until={after}&page_size=1000").json()["results"]
    assert world.evidence_in.pk not in {r["id"] for r in before}


def test_artifact_etag_and_download_audit(world):
    client = api_client(token_for(world.engineer, ["read"]))
    url = f"/api/v1/evidence/{world.evidence_in.pk}/artifact/"
    first = client.get(url)
    assert first.status_code == 200
    assert first["ETag"] == f'"{world.evidence_in.sha256}"'
    body = b"".join(first.streaming_content)
    assert len(body) == world.evidence_in.size
    downloads = AuditEvent.objects.filter(action="evidence.downloaded")
    assert downloads.count() == 1 and "api_token" in downloads.get().details
    again = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again["ETag"] == first["ETag"]
    assert downloads.count() == 1  # a 304 sends nothing
    stale = client.get(url, headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200


def test_connections_never_show_secrets(world):
    connection_create(name="with-secret", collector_key="demo_inventory",
                      params={"api_token": "s3cret-value-123"})  # fmt: skip
    client = api_client(token_for(world.admin, ["read"]))
    text = client.get("/api/v1/connections/").content.decode()
    assert "s3cret-value-123" not in text and '"secrets_set":["api_token"]' in text


def test_auditors_see_only_their_engagements(world):
    client = api_client(token_for(world.auditor, ["read"]))
    listed = client.get("/api/v1/engagements/").json()["results"]
    assert [e["id"] for e in listed] == [world.engagement.pk]
    other = client.get(f"/api/v1/engagements/{world.other_engagement.pk}/evidence/")
    assert other.status_code == 404
    inside = client.get(f"/api/v1/engagements/{world.engagement.pk}/evidence/").json()
    ids = {e["id"] for e in inside["results"]}
    assert world.evidence_in.pk in ids and world.evidence_out.pk not in ids
    out = f"/api/v1/engagements/{world.engagement.pk}/evidence/{world.evidence_out.pk}/artifact/"
    assert client.get(out).status_code == 404
    assert client.get("/api/v1/findings/").status_code == 403


def test_audit_log_needs_admin_role_and_scope(world):
    assert api_client(token_for(world.admin, ["read"])).get("/api/v1/audit-log/").status_code == 403
    admin = api_client(token_for(world.admin, ["read", "admin"]))
    events = admin.get("/api/v1/audit-log/?action=api_token.created").json()["results"]
    assert events and {e["action"] for e in events} == {"api_token.created"}


def test_coverage_over_a_window(world):
    from datetime import date, timedelta

    from pixaudit.posture.coverage import framework_coverage

    client = api_client(token_for(world.engineer, ["read"]))
    end = date.today()
    start = end - timedelta(days=29)
    url = f"/api/v1/frameworks/soc2-2017/coverage/?start={start}&end={end}"
    body = client.get(url).json()
    expected = framework_coverage(framework=world.soc2, start=start, end=end)
    assert body["start"] == str(start) and body["end"] == str(end)
    assert body["days_in_scope"] == expected.days_in_scope
    assert body["days_risk_accepted"] == expected.days_risk_accepted
    assert [c["days_risk_accepted"] for c in body["controls"]] == [
        c.days_risk_accepted for c in expected.controls
    ]
    assert body["controls_not_tested"] == expected.controls_not_tested
    assert len(body["controls"]) == len(expected.controls)
    first = body["controls"][0]
    assert len(first["days"]) == 30 and first["ref"] == expected.controls[0].control.ref
    default = client.get("/api/v1/frameworks/soc2-2017/coverage/").json()
    assert len(default["controls"][0]["days"]) == 90
    bad = client.get(f"/api/v1/frameworks/soc2-2017/coverage/?start={end}&end={start}")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "start"
    assert client.get("/api/v1/frameworks/soc2-2017/coverage/?start=2020-01-01").status_code == 400
    assert client.get("/api/v1/frameworks/nope/coverage/").status_code == 404
