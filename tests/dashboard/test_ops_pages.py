"""Connections (generated forms, write-only secrets), runs, evidence, SoA pages."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse

from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem
from pixaudit.evidence.services.connections import connection_secret_values
from pixaudit.posture.models import ApplicabilityDecision
from tests.security.helpers import client_for

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- Connections ---------------------------------------------------------------------------


def test_connection_list_shows_status_last_and_next_run(logged_in, demo_run, demo_connection):
    response = logged_in.get(reverse("dashboard:connection_list"))
    html = body(response)
    assert response.status_code == 200
    assert "Demo inventory" in html and "Healthy" in html and "Run now" in html
    assert SECRET not in html


def test_connection_list_shows_the_last_error(logged_in, catalogs, media_root):
    from pixaudit.evidence.services import (
        collection_run_create,
        collection_run_execute,
        connection_create,
    )

    conn = connection_create(
        name="Broken", collector_key="demo_inventory", params={"simulate_error": "permanent"}
    )
    collection_run_execute(run_id=collection_run_create(connection=conn, trigger="manual").pk)
    html = body(logged_in.get(reverse("dashboard:connection_list")))
    assert "Failing" in html and "simulated permanent failure" in html


def test_create_form_is_generated_from_the_collectors_params(logged_in, catalogs):
    response = logged_in.get(
        reverse("dashboard:connection_create"), {"collector": "demo_inventory"}
    )
    html = body(response)
    assert response.status_code == 200
    for name in ("p_resources", "p_simulate_error", "p_api_token"):
        assert f'name="{name}"' in html
    assert 'type="password"' in html and '<option value="transient">' in html
    assert '<label for="id_p_resources">' in html


def test_create_validates_per_field_and_never_echoes_the_secret(logged_in, catalogs):
    url = reverse("dashboard:connection_create")
    response = logged_in.post(
        url,
        {
            "collector": "demo_inventory",
            "name": "",
            "p_resources": "[not json",
            "p_simulate_error": "none",
            "p_api_token": SECRET,
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "name" in form.errors
    html = body(response)
    assert SECRET not in html
    # The service's per-field errors land on their fields too.
    response = logged_in.post(
        url,
        {"collector": "demo_inventory", "name": "Demo", "p_resources": "[not json",
         "p_api_token": SECRET},
    )  # fmt: skip
    assert response.status_code == 400
    assert "invalid JSON" in response.context["form"].errors["p_resources"][0]
    assert SECRET not in body(response)
    assert not Connection.objects.exists()


def test_create_then_edit_keeps_blank_secret_and_can_clear_it(logged_in, catalogs):
    url = reverse("dashboard:connection_create")
    response = logged_in.post(
        url,
        {"collector": "demo_inventory", "name": "Demo", "p_api_token": SECRET,
         "p_resources": '[{"name": "x", "kind": "account", "mfa": true}]', "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    conn = Connection.objects.get(name="Demo")
    assert connection_secret_values(connection=conn) == {"api_token": SECRET}
    assert SECRET not in json.dumps(conn.params) and SECRET not in json.dumps(conn.secrets)

    edit = reverse("dashboard:connection_edit", args=[conn.pk])
    page = body(logged_in.get(edit))
    assert SECRET not in page and "A value is stored" in page
    assert "&quot;name&quot;: &quot;x&quot;" in page  # non-secret params are shown back

    response = logged_in.post(
        edit, {"name": "Demo renamed", "p_api_token": "", "p_resources": "", "enabled": "on"}
    )
    assert response.status_code == 302
    conn.refresh_from_db()
    assert (
        conn.name == "Demo renamed"
        and "resources" not in conn.params
        or (conn.params.get("resources") is None)
    )
    assert connection_secret_values(connection=conn) == {"api_token": SECRET}

    response = logged_in.post(edit, {"name": "Demo renamed", "clear_api_token": "on"})
    assert response.status_code == 302
    conn.refresh_from_db()
    assert connection_secret_values(connection=conn) == {}


def test_edit_errors_do_not_echo_the_secret(logged_in, demo_connection):
    edit = reverse("dashboard:connection_edit", args=[demo_connection.pk])
    response = logged_in.post(
        edit, {"name": "Demo inventory", "p_resources": "{bad", "p_api_token": "n3w-" + SECRET}
    )
    assert response.status_code == 400
    assert SECRET not in body(response)
    assert "p_resources" in response.context["form"].errors


def test_unknown_collector_goes_back_to_the_list(logged_in, catalogs):
    response = logged_in.get(reverse("dashboard:connection_create"), {"collector": "nope"})
    assert response.status_code == 302


# --- Runs ----------------------------------------------------------------------------------


@pytest.mark.smoke
def test_run_now_completes_in_process_and_reports_status(
    logged_in, demo_connection, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(reverse("dashboard:connection_run", args=[demo_connection.pk]))
    run = CollectionRun.objects.get(connection=demo_connection)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:run_detail", args=[run.pk])
    assert run.status == "succeeded", run.error_message
    page = body(logged_in.get(response["Location"]))
    assert 'data-status-url="/runs/' in page and "js/run-status.js" in page
    status = logged_in.get(reverse("dashboard:run_status", args=[run.pk])).json()
    assert status["status"] == "succeeded" and status["active"] is False
    assert status["findings"]["fail"] == 4 and status["evidence_url"]


def test_run_now_needs_post(logged_in, demo_connection):
    response = logged_in.get(reverse("dashboard:connection_run", args=[demo_connection.pk]))
    assert response.status_code == 405


def test_run_now_while_active_points_at_the_active_run(logged_in, demo_connection):
    active = CollectionRun.objects.create(
        connection=demo_connection, collector_key="demo_inventory", trigger="manual"
    )
    response = logged_in.post(reverse("dashboard:connection_run", args=[demo_connection.pk]))
    assert response["Location"] == reverse("dashboard:run_detail", args=[active.pk])


def test_runs_log_filters(logged_in, demo_run, demo_connection):
    url = reverse("dashboard:run_list")
    assert list(logged_in.get(url).context["page"]) == [demo_run]
    assert list(logged_in.get(url, {"status": "failed"}).context["page"]) == []
    assert list(logged_in.get(url, {"connection": demo_connection.pk}).context["page"]) == [
        demo_run
    ]


# --- Evidence ------------------------------------------------------------------------------


def test_evidence_browser_filters_by_collector_and_date(logged_in, demo_run):
    item = EvidenceItem.objects.get()
    url = reverse("dashboard:evidence_list")
    html = body(logged_in.get(url))
    assert item.sha256[:12] in html and item.chain_hash[:12] in html and f"#{item.seq}" in html
    assert list(logged_in.get(url, {"collector": "demo_inventory"}).context["page"]) == [item]
    assert list(logged_in.get(url, {"collector": "okta_users"}).context["page"]) == []
    day = item.collected_at.date().isoformat()
    assert list(logged_in.get(url, {"since": day, "until": day}).context["page"]) == [item]
    assert list(logged_in.get(url, {"until": "2001-01-01"}).context["page"]) == []


def test_evidence_browser_filters_by_resource_and_finding_status(logged_in, demo_run):
    item = EvidenceItem.objects.get()
    url = reverse("dashboard:evidence_list")

    def found(**query):
        return list(logged_in.get(url, query).context["page"])

    # bucket-logs is not encrypted in the demo sample; bucket-finance is.
    assert found(resource="BUCKET-LOGS", status="fail") == [item]
    assert found(resource="bucket-finance", status="pass") == [item]
    assert found(resource="no-such-resource") == []
    assert found(resource="bucket-finance", status="error") == []


@pytest.mark.smoke
def test_artifact_download_bytes_hash_to_the_sha256(logged_in, demo_run):
    item = EvidenceItem.objects.get()
    response = logged_in.get(reverse("dashboard:evidence_artifact", args=[item.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == item.sha256 == response["X-Content-SHA256"]
    assert "attachment" in response["Content-Disposition"]
    assert SECRET.encode() not in data


def test_verify_recomputes_the_items_hashes(logged_in, demo_run):
    item = EvidenceItem.objects.get()
    response = logged_in.post(reverse("dashboard:evidence_verify", args=[item.pk]))
    assert response.status_code == 200
    verify = response.context["verify"]
    assert verify.ok and [c.name for c in verify.checks] == [
        "Artifact hash", "Findings digest", "Chain link", "Chain hash",
    ]  # fmt: skip
    assert "All checks pass" in body(response)


def test_verify_detects_a_changed_artifact(logged_in, demo_run, media_root):
    item = EvidenceItem.objects.get()
    (media_root / item.artifact_path).write_bytes(b'{"tampered": true}')
    verify = logged_in.post(reverse("dashboard:evidence_verify", args=[item.pk])).context["verify"]
    assert not verify.ok and not verify.checks[0].ok and verify.checks[3].ok


# --- Statement of Applicability ------------------------------------------------------------


def test_soa_list_and_edit(catalogs, django_user_model, logged_in):
    # Applicability is the compliance manager's decision (engineers may only read it).
    edit = reverse("dashboard:soa_edit", args=["iso27001-2022", "A.7.4"])
    assert logged_in.get(edit).status_code == 403
    user = django_user_model.objects.create_user(
        username="casey-manager", password="unused-pass-123", role="compliance_manager"
    )
    logged_in = client_for(user)
    response = logged_in.get(reverse("dashboard:soa_list"))
    assert response.status_code == 200
    assert len(response.context["entries"]) == 93
    assert logged_in.get(edit).status_code == 200

    response = logged_in.post(edit, {"applicable": "no", "justification": ""})
    assert response.status_code == 400
    assert "justification" in response.context["form"].errors

    response = logged_in.post(edit, {"applicable": "no", "justification": "Fully remote."})
    assert response.status_code == 302
    decision = ApplicabilityDecision.objects.get()
    assert (decision.applicable, decision.decided_by) == (False, user)
    html = body(logged_in.get(reverse("dashboard:soa_list")))
    assert "Fully remote." in html and "casey-manager" in html and "Not applicable" in html
    detail = logged_in.get(reverse("dashboard:control_detail", args=["iso27001-2022", "A.7.4"]))
    assert detail.context["item"].status == "not_applicable"


def test_pages_offer_only_the_actions_the_role_may_take(catalogs, django_user_model, logged_in):
    manager = client_for(
        django_user_model.objects.create_user(
            username="mia", password="unused-pass-123", role="compliance_manager"
        )
    )
    # Compliance managers may add integrations (issue 15); auditors never see connections.
    html = body(manager.get(reverse("dashboard:connection_list")))
    assert "Add connection" in html
    # Engineers read applicability but do not decide it: no change link.
    html = body(logged_in.get(reverse("dashboard:control_detail", args=["iso27001-2022", "A.7.4"])))
    assert reverse("dashboard:soa_edit", args=["iso27001-2022", "A.7.4"]) not in html
    html = body(manager.get(reverse("dashboard:control_detail", args=["iso27001-2022", "A.7.4"])))
    assert reverse("dashboard:soa_edit", args=["iso27001-2022", "A.7.4"]) in html
