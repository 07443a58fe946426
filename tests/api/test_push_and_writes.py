"""Push collectors through the API (validated, evaluated server-side, chained like pulled
evidence, nothing stored when malformed) and the other writes, each audit-logged with the
token's identity."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from pixaudit.accounts.models import Role
from pixaudit.auditlog.models import AuditEvent
from pixaudit.evidence.models import CollectionRun, EvidenceItem, Finding, LatestResult
from tests.api.helpers import api_client, token_for
from tests.security.helpers import pdf_make, user_make

pytestmark = pytest.mark.django_db

ROW = {
    "deployment": "acme/shop@production#4242",
    "repository": "acme/shop",
    "environment": "production",
    "commit": "0123456789abcdef0123456789abcdef01234567",
    "change_ref": "https://github.com/acme/shop/pull/7",
    "author": "alice",
    "reviewers": ["bob"],
    "tests_passed": True,
    "deployed_at": "2026-03-01T10:00:00Z",
}
RESTORE = {"system": "db-orders", "finished_at": "2026-03-02T10:00:00Z", "succeeded": True,
           "data_verified": True, "restore_minutes": 30}  # fmt: skip
META = {"repository": "acme/shop", "commit": ROW["commit"],
        "pipeline_url": "https://github.com/acme/shop/actions/runs/4242"}  # fmt: skip


def _push(client, key, body):
    return client.post(f"/api/v1/push/{key}/", body, content_type="application/json")


def test_push_appends_one_chained_item_with_the_tokens_identity(catalogs):
    # Its own database (no hand-made world items), so the whole chain must verify.
    engineer = user_make(Role.ENGINEER, "ci-engineer")
    client = api_client(token_for(engineer, ["write:evidence"]))
    first = _push(client, "restore_tests", {"document": RESTORE})
    assert first.status_code == 201
    rows = [ROW, {**ROW, "deployment": "acme/shop@production#4243", "reviewers": ["alice"]}]
    response = _push(client, "ci_deployments", {"rows": rows, "metadata": META})
    assert response.status_code == 201, response.content
    body = response.json()
    item = EvidenceItem.objects.get(pk=body["evidence"]["id"])
    assert body["findings"] == {"pass": 3, "fail": 1, "warn": 0, "error": 0}
    assert item.collector_key == "ci_deployments" and item.row_count == 2
    assert item.seq == EvidenceItem.objects.order_by("-seq").first().seq  # the chain's head
    assert item.provenance["ci"] == META and item.provenance["trigger"] == "push"
    assert item.provenance["user"] == engineer.username
    assert item.provenance["api_token"].startswith("personal token 'test' (pxa_")
    assert item.run.trigger == "push" and item.run.status == "succeeded"
    latest = LatestResult.objects.filter(collector_key="ci_deployments")
    assert latest.get(assertion_id="ci_deployments.independent_review",
                      resource="acme/shop@production#4243").status == "fail"  # fmt: skip
    event = AuditEvent.objects.filter(action="evidence.pushed").latest("id")
    assert event.actor_id == engineer.pk and event.details["api_token"]
    assert event.details["ci"] == META
    assert (
        item.prev_chain_hash
        == EvidenceItem.objects.get(pk=first.json()["evidence"]["id"]).chain_hash
    )
    call_command("verify_evidence", stdout=io.StringIO())  # the chain verifies end to end


def test_one_document_is_one_row(world):
    client = api_client(token_for(world.engineer, ["write:evidence"]))
    response = _push(client, "restore_tests", {"document": RESTORE})
    assert response.status_code == 201
    assert response.json()["findings"]["pass"] == 2


def test_a_malformed_push_names_every_problem_and_stores_nothing(world):
    client = api_client(token_for(world.engineer, ["write:evidence"]))
    pushed = AuditEvent.objects.filter(action="evidence.pushed")
    before = (EvidenceItem.objects.count(), Finding.objects.count(),
              CollectionRun.objects.count(), pushed.count())  # fmt: skip
    rows = [{**ROW, "tests_passed": "perhaps"}, {"deployment": "x", "colour": "red"}, 7]
    response = _push(client, "ci_deployments", {"rows": rows})
    assert response.status_code == 422
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert "nothing was stored" in body["detail"]
    named = {(e["row"], e["field"]) for e in body["errors"]}
    assert named == {(0, "tests_passed"), (1, "colour"), (1, "repository"), (1, "commit"),
                     (1, "deployed_at"), (2, None)}  # fmt: skip
    after = (EvidenceItem.objects.count(), Finding.objects.count(),
             CollectionRun.objects.count(), pushed.count())  # fmt: skip
    assert after == before
    bodies = ({}, {"rows": [ROW], "document": ROW}, {"rows": "x"},
              {"rows": [ROW], "metadata": {"colour": "red"}}, {"rows": [], "extra": 1})  # fmt: skip
    for bad in bodies:
        refused = _push(client, "ci_deployments", bad)
        assert refused.status_code in (400, 422), bad
        assert refused.json()["errors"], bad
    assert EvidenceItem.objects.count() == before[0]


def test_only_push_collectors_accept_pushes(world):
    client = api_client(token_for(world.engineer, ["write:evidence"]))
    assert _push(client, "demo_inventory", {"rows": [{"name": "x"}]}).status_code == 404
    assert _push(client, "no_such_thing", {"rows": [{"name": "x"}]}).status_code == 404
    read_only = api_client(token_for(world.engineer, ["read"]))
    assert _push(read_only, "ci_deployments", {"rows": [ROW]}).status_code == 403


def test_start_a_run_is_audited_with_the_token(world):
    client = api_client(token_for(world.engineer, ["write:runs"]))
    response = client.post(f"/api/v1/connections/{world.connection.pk}/runs/")
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "running", "succeeded")
    event = AuditEvent.objects.filter(action="connection.run_requested").latest("id")
    assert event.actor_id == world.engineer.pk and "pxa_" in event.details["api_token"]


def test_manual_upload_through_the_api_uses_the_page_rules(world):
    client = api_client(token_for(world.manager, ["write:evidence"]))
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = {"file": SimpleUploadedFile("policy.pdf", pdf_make()), "title": "Backup policy",
            "controls": ["soc2-2017:A1.3"], "effective_on": "2026-03-01",
            "recurrence": "yearly"}  # fmt: skip
    response = client.post("/api/v1/manual-evidence/", form)
    assert response.status_code == 201, response.content
    assert response.json()["control_addresses"] == ["soc2-2017:A1.3"]
    assert AuditEvent.objects.filter(action__startswith="manual").latest("id").details["api_token"]
    bad = {"file": SimpleUploadedFile("x.exe", b"MZ\x90\x00"), "title": "x",
           "controls": ["soc2-2017:NOPE"], "effective_on": "2026-03-01"}  # fmt: skip
    refused = client.post("/api/v1/manual-evidence/", bad)
    assert refused.status_code == 400
    assert {e["field"] for e in refused.json()["errors"]} >= {"controls"}


def test_answer_an_evidence_request(world):
    client = api_client(token_for(world.manager, ["write:evidence"]))
    url = f"/api/v1/engagements/{world.engagement.pk}/requests/{world.request.pk}/answer/"
    response = client.post(url, {"note": "See the item.", "evidence": [world.evidence_in.pk]},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200 and response.json()["status"] == "answered"
    again = client.post(url, {"note": "again"}, content_type="application/json")
    assert again.status_code == 409
    out = client.post(
        f"/api/v1/engagements/{world.engagement.pk}/requests/{world.request.pk}/answer/",
        {"evidence": [world.evidence_out.pk]}, content_type="application/json",
    )  # fmt: skip
    assert out.status_code in (400, 409)


def test_review_decisions(world):
    entry = world.campaign.entries.order_by("id").first()
    client = api_client(token_for(world.manager, ["write:evidence"]))
    url = f"/api/v1/reviews/{world.campaign.pk}/decisions/"
    body = {"decisions": [{"entry": entry.pk, "decision": "revoke", "note": ""}]}
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["errors"]
    body["decisions"][0]["note"] = "left the company"
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"changed": 1}
    event = AuditEvent.objects.filter(action="review.decide").latest("id")
    assert "api_token" in event.details
