"""App registers (``Collector.app_register``): collectors whose rows the app records itself
from its own registers (``privacy_requests``). They are declared, documented and mapped like
any collector, but have no connection: not offered on the connections page, never
scheduled, and "Run now", the API run start and ``manage.py collect`` refuse them, saying
where their evidence comes from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from collectors import CollectionContext, Collector, Column
from collectors.lint import lint_collector
from collectors.privacy.privacy_requests import PrivacyRequestsCollector
from pixaudit.accounts.models import Role
from pixaudit.evidence.collector_docs import collectors_markdown
from pixaudit.evidence.models import CollectionRun, Connection
from pixaudit.evidence.services import (
    CollectorIsAppRegister,
    ConnectionParamsError,
    collection_run_create,
    connection_create,
)
from pixaudit.evidence.services.connections import (
    app_register_collector_keys,
    connectable_collectors,
)
from pixaudit.evidence.services.scheduling import collections_enqueue_due, connections_due
from tests.api.helpers import api_client, token_for
from tests.security.helpers import client_for, user_make

KEY = "privacy_requests"
WHERE = "Privacy requests, /privacy-requests/"


def test_the_declaration_is_exposed_in_docs_and_linted() -> None:
    docs = PrivacyRequestsCollector.docs()
    assert docs["app_register"] is True and WHERE in docs["recorded_in"]
    assert docs["push"] is False
    markdown = collectors_markdown([PrivacyRequestsCollector])
    assert f"App register: recorded by pixaudit from {PrivacyRequestsCollector.recorded_in}" in (
        markdown
    )

    class Bad(Collector):
        """An app register that forgot to say where its rows come from, with a param."""

        key = "demo_register"
        title = "Bad register"
        columns = (Column("name", "string", "A name."),)
        resource_column = "name"
        app_register = True
        push = True
        permissions = ("demo:Read",)

        def collect(self, ctx: CollectionContext) -> list:
            return []

    problems = " | ".join(lint_collector(Bad))
    assert "must say where its rows are recorded (recorded_in)" in problems
    assert "either pushed (push) or an app register" in problems
    assert "declares no permissions" in problems

    class Stray(Bad):
        """recorded_in without app_register."""

        app_register = False
        push = False
        permissions = ()
        recorded_in = "somewhere"

    assert "recorded_in is set but app_register is not" in " | ".join(lint_collector(Stray))


@pytest.mark.django_db
def test_app_registers_get_no_connection_and_are_not_offered(catalogs) -> None:
    assert KEY in app_register_collector_keys()
    assert KEY not in {c.key for c in connectable_collectors()}
    assert "tls_endpoints" in {c.key for c in connectable_collectors()}
    with pytest.raises(ConnectionParamsError) as refused:
        connection_create(name="dsr", collector_key=KEY, params={})
    assert WHERE in refused.value.errors["collector_key"]
    assert not Connection.objects.filter(collector_key=KEY).exists()

    manager = user_make(Role.COMPLIANCE_MANAGER, "register-manager")
    page = client_for(manager).get("/connections/").content.decode()
    assert f'<option value="{KEY}">' not in page
    assert '<option value="tls_endpoints">' in page
    form = client_for(manager).get(f"/connections/new/?collector={KEY}", follow=True)
    assert WHERE in form.content.decode() and not Connection.objects.exists()
    posted = client_for(manager).post("/connections/new/", {"collector": KEY, "name": "dsr"},
                                      follow=True)  # fmt: skip
    assert WHERE in posted.content.decode() and not Connection.objects.exists()


@pytest.mark.django_db
def test_a_legacy_connection_is_never_scheduled_or_run(catalogs, world) -> None:
    # Created before app registers were declared (the service refuses it now).
    legacy = Connection.objects.create(name="old dsr", collector_key=KEY, params={},
                                       next_run_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    now = timezone.now()
    due = set(connections_due(now=now).values_list("pk", flat=True))
    assert legacy.pk not in due and world.connection.pk in due
    enqueued = collections_enqueue_due(now=now)
    assert legacy.pk not in {run.connection_id for run in enqueued}
    with pytest.raises(CollectorIsAppRegister, match="never run"):
        collection_run_create(connection=legacy, trigger="manual")
    with pytest.raises(CollectorIsAppRegister, match="recorded by pixaudit"):
        collection_run_create(collector_key=KEY, trigger="cli")

    manager = user_make(Role.COMPLIANCE_MANAGER, "legacy-manager")
    listing = client_for(manager).get("/connections/").content.decode()
    assert f'action="/connections/{legacy.pk}/run/"' not in listing
    assert f"Never run: recorded by the app from {PrivacyRequestsCollector.recorded_in}" in (
        listing
    )
    page = client_for(manager).post(f"/connections/{legacy.pk}/run/", follow=True)
    assert WHERE in page.content.decode()
    api = api_client(token_for(manager, ["write:runs"])).post(
        f"/api/v1/connections/{legacy.pk}/runs/"
    )
    assert api.status_code == 409 and WHERE in api.json()["detail"]
    with pytest.raises(CommandError, match="never run"):
        call_command("collect", "--connection", legacy.name)
    assert not CollectionRun.objects.filter(collector_key=KEY).exists()


@pytest.mark.django_db
def test_collect_by_key_or_source_says_where_the_evidence_comes_from(catalogs) -> None:
    with pytest.raises(CommandError, match=r"privacy_requests is recorded by pixaudit from .*"
                       r"Privacy requests") as by_key:  # fmt: skip
        call_command("collect", KEY)
    assert by_key.value.returncode == 2
    with pytest.raises(CommandError, match="every collector of source 'privacy' is recorded"):
        call_command("collect", "--source", "privacy")
    assert not CollectionRun.objects.exists()
