"""Push connections: a push names a connection of its push collector, whose current state
it replaces (and no other's); such connections are created in the app, never scheduled or
run, and an unknown or mismatched connection is refused with a problem naming it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from pixaudit.accounts.models import Role
from pixaudit.api.models import ApiToken
from pixaudit.api.services import token_create
from pixaudit.auditlog.models import AuditEvent
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Control
from pixaudit.evidence.models import CollectionRun, Connection, EvidenceItem, LatestResult
from pixaudit.evidence.services import (
    ConnectionIsPushed,
    ConnectionParamsError,
    collection_run_create,
    connection_create,
)
from pixaudit.evidence.services.scheduling import collections_enqueue_due, connections_due
from pixaudit.posture.selectors import assertion_states, control_posture
from tests.api.helpers import api_client, token_for
from tests.api.test_push_and_writes import ROW
from tests.security.helpers import client_for, user_make

pytestmark = pytest.mark.django_db

REVIEW = "ci_deployments.independent_review"


def _row(repository: str, run: int, reviewers: list[str]) -> dict:
    return {**ROW, "repository": repository, "reviewers": reviewers,
            "deployment": f"{repository}@production#{run}"}  # fmt: skip


def _push(client, body, connection=None, key="ci_deployments"):
    query = "" if connection is None else f"?connection={connection}"
    return client.post(f"/api/v1/push/{key}/{query}", body, content_type="application/json")


@pytest.fixture
def pushers(catalogs):
    manager = user_make(Role.COMPLIANCE_MANAGER, "push-manager")
    shop = connection_create(name="shop deploys", collector_key="ci_deployments", params={},
                             user=manager)  # fmt: skip
    billing = connection_create(name="billing", collector_key="ci_deployments", params={},
                                user=manager)  # fmt: skip
    engineer = user_make(Role.ENGINEER, "push-engineer")
    return shop, billing, api_client(token_for(engineer, ["write:evidence"])), manager


def test_two_repositories_keep_separate_current_state_and_posture_counts_both(pushers):
    shop, billing, client, _ = pushers
    # acme/shop: one deployment approved only by its author (fails the review assertion).
    first = _push(client, {"rows": [_row("acme/shop", 1, ["alice"])]}, "shop deploys")
    assert first.status_code == 201, first.content
    pushed = _push(client, {"rows": [_row("acme/billing", 9, ["bob"]),
                                     _row("acme/billing", 10, ["carol"])]}, billing.pk)  # fmt: skip
    assert pushed.status_code == 201, pushed.content
    # The shop pipeline pushes again: it replaces the shop's current state only.
    again = _push(client, {"rows": [_row("acme/shop", 2, ["alice"])]}, "shop deploys")
    assert again.status_code == 201, again.content

    latest = LatestResult.objects.filter(assertion_id=REVIEW)
    assert sorted(latest.filter(connection=shop).values_list("resource", "status")) == [
        ("acme/shop@production#2", "fail")
    ]
    assert sorted(latest.filter(connection=billing).values_list("resource", "status")) == [
        ("acme/billing@production#10", "pass"), ("acme/billing@production#9", "pass"),
    ]  # fmt: skip
    assert not latest.filter(connection__isnull=True).exists()
    item = EvidenceItem.objects.get(pk=again.json()["evidence"]["id"])
    assert item.connection == shop and item.run.connection == shop
    assert item.run.trigger == "push" and item.run.status == "succeeded"
    # Posture counts both repositories' deployments, and the failing one makes CC8.1 fail.
    state = assertion_states(assertion_ids=[REVIEW])[REVIEW]
    assert state.counts == {"fail": 1, "pass": 2}
    check_mappings_sync_from_registry()
    control = Control.objects.get(framework__key="soc2-2017", ref="CC8.1")
    posture = control_posture(control=control)
    assert posture.status == "failing"
    by_billing = control_posture(control=control, connections=[billing.pk])
    assert by_billing.status == "passing"
    # A push without a connection is still the collector's connection-less current state,
    # beside the connections' own.
    default = _push(client, {"rows": [_row("acme/other", 3, ["bob"])]})
    assert default.status_code == 201
    assert latest.filter(connection__isnull=True).count() == 1
    assert latest.filter(connection__isnull=False).count() == 3
    assert assertion_states(assertion_ids=[REVIEW])[REVIEW].counts == {"fail": 1, "pass": 3}


def test_unknown_or_mismatched_connections_are_refused_by_name(pushers, world):
    shop, _, client, manager = pushers
    before = (EvidenceItem.objects.count(), CollectionRun.objects.count())
    body = {"rows": [_row("acme/shop", 1, ["bob"])]}
    unknown = _push(client, body, "no-such-repo")
    assert unknown.status_code == 404
    assert unknown["Content-Type"] == "application/problem+json"
    assert "'no-such-repo'" in unknown.json()["detail"]
    assert _push(client, body, 999999).status_code == 404
    # A connection of another collector (the world's demo_inventory connection).
    other = _push(client, body, world.connection.name)
    assert other.status_code == 400
    detail = other.json()["detail"]
    assert world.connection.name in detail and "demo_inventory" in detail
    assert other.json()["errors"][0]["field"] == "connection"
    # A restore_tests push to a ci_deployments connection.
    restore = {"document": {"system": "db", "finished_at": "2026-03-02T10:00:00Z",
                            "succeeded": True}}  # fmt: skip
    crossed = _push(client, restore, shop.pk, key="restore_tests")
    assert crossed.status_code == 400 and "shop deploys" in crossed.json()["detail"]
    Connection.objects.filter(pk=shop.pk).update(enabled=False)
    disabled = _push(client, body, shop.pk)
    assert disabled.status_code == 400 and "disabled" in disabled.json()["detail"]
    too_long = _push(client, body, "x" * 201)
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["field"] == "connection"
    assert (EvidenceItem.objects.count(), CollectionRun.objects.count()) == before


def test_push_connections_are_never_scheduled_or_run(pushers, world):
    shop, billing, client, manager = pushers
    assert shop.next_run_at is None and shop.schedule_minutes is None
    now = timezone.now()
    Connection.objects.filter(pk=billing.pk).update(next_run_at=now)  # even when "due"
    due = set(connections_due(now=now).values_list("pk", flat=True))
    assert shop.pk not in due and billing.pk not in due
    assert world.connection.pk in due  # a pulled connection is still due
    enqueued = collections_enqueue_due(now=now)
    assert {run.connection_id for run in enqueued}.isdisjoint({shop.pk, billing.pk})
    with pytest.raises(ConnectionIsPushed, match="never run"):
        collection_run_create(connection=shop, trigger="manual")
    # "Run now" on the page, the API and the command line say why, and start nothing.
    runs = CollectionRun.objects.filter(connection=shop)
    page = client_for(manager).post(f"/connections/{shop.pk}/run/", follow=True)
    assert "its evidence arrives by API" in page.content.decode()
    api = api_client(token_for(manager, ["write:runs"])).post(
        f"/api/v1/connections/{shop.pk}/runs/"
    )
    assert api.status_code == 409 and "pushed by API" in api.json()["detail"]
    with pytest.raises(CommandError, match="never run"):
        call_command("collect", "--connection", shop.name)
    assert not runs.exists()
    # A push does not make it due either.
    assert _push(client, {"rows": [_row("acme/shop", 1, ["bob"])]}, shop.pk).status_code == 201
    shop.refresh_from_db()
    assert shop.next_run_at is None


def test_push_connections_take_no_schedule_and_apply_their_thresholds(catalogs):
    with pytest.raises(ConnectionParamsError) as refused:
        connection_create(name="r", collector_key="restore_tests", params={}, schedule_minutes=60)
    assert "push collector" in refused.value.errors["schedule_minutes"]
    strict = connection_create(name="strict restores", collector_key="restore_tests", params={},
                               thresholds={"restore_tests.within_rto":
                                           {"default_rto_minutes": 10}})  # fmt: skip
    engineer = user_make(Role.ENGINEER, "restorer")
    client = api_client(token_for(engineer, ["write:evidence"]))
    document = {"system": "db-orders", "finished_at": "2026-03-02T10:00:00Z",
                "succeeded": True, "data_verified": True, "restore_minutes": 30}  # fmt: skip
    body = {"document": document}
    assert _push(client, body, key="restore_tests").json()["findings"]["fail"] == 0
    pushed = _push(client, body, strict.name, key="restore_tests")
    assert pushed.status_code == 201
    assert pushed.json()["findings"]["fail"] == 1  # 30 minutes > the connection's 10


def test_the_connections_page_says_evidence_arrives_by_api_and_shows_the_last_push(pushers):
    shop, billing, client, manager = pushers
    assert _push(client, {"rows": [_row("acme/shop", 1, ["alice"])]}, shop.pk).status_code == 201
    page = client_for(manager).get("/connections/").content.decode()
    assert f"/api/v1/push/ci_deployments/?connection={shop.pk}" in page
    assert "Evidence arrives by API" in page and "Last push" in page
    assert "Nothing pushed yet" in page  # billing
    assert f'action="/connections/{shop.pk}/run/"' not in page
    assert '<option value="ci_deployments">' in page  # offered for a new connection
    form = client_for(manager).get("/connections/new/?collector=ci_deployments")
    text = form.content.decode()
    assert form.status_code == 200 and 'name="schedule_minutes"' not in text
    assert "never scheduled or run" in text
    created = client_for(manager).post(
        "/connections/new/", {"collector": "ci_deployments", "name": "payments", "enabled": "on"}
    )
    assert created.status_code == 302
    assert Connection.objects.get(name="payments").next_run_at is None


def test_a_token_restricted_to_a_push_connection_only_pushes_there(pushers, world):
    shop, billing, _, manager = pushers
    with pytest.raises(ValidationError) as wide:
        token_create(user=manager, name="ci", scopes=["read", "write:evidence"],
                     push_connection=shop)  # fmt: skip
    assert "write:evidence scope only" in str(wide.value)
    with pytest.raises(ValidationError) as pulled:
        token_create(user=manager, name="ci", scopes=["write:evidence"],
                     push_connection=world.connection)  # fmt: skip
    assert "not a push connection" in str(pulled.value)
    created = token_create(user=manager, name="shop ci", scopes=["write:evidence"],
                           kind="service", push_connection=shop)  # fmt: skip
    client = api_client(created.secret)
    # No ?connection=: the token's own connection.
    pushed = _push(client, {"rows": [_row("acme/shop", 1, ["bob"])]})
    assert pushed.status_code == 201, pushed.content
    assert EvidenceItem.objects.get(pk=pushed.json()["evidence"]["id"]).connection == shop
    assert (
        _push(client, {"rows": [_row("acme/shop", 2, ["bob"])]}, "shop deploys").status_code == 201
    )
    # Another connection, or any other endpoint: refused, naming the connection.
    other = _push(client, {"rows": [_row("acme/billing", 1, ["bob"])]}, billing.pk)
    assert other.status_code == 403 and "'shop deploys'" in other.json()["detail"]
    upload = client.post("/api/v1/manual-evidence/", {})
    assert upload.status_code == 403 and "only pushes evidence" in upload.json()["detail"]
    assert not LatestResult.objects.filter(connection=billing).exists()
    event = AuditEvent.objects.filter(action="api_token.created").latest("id")
    assert event.details["push_connection"] == "shop deploys"
    page = client_for(manager).get("/api/tokens/").content.decode()
    assert "only pushes to shop deploys" in page and 'name="push_connection"' in page
    made = client_for(manager).post("/api/tokens/", {
        "name": "billing ci", "scopes": ["write:evidence"], "kind": "service",
        "expires_in_days": 30, "push_connection": billing.pk,
    })  # fmt: skip
    assert made.status_code == 200
    assert ApiToken.objects.get(name="billing ci").push_connection == billing
