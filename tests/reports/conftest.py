"""Fixtures for reports tests: real catalogs, the demo collector, a few collections."""

from __future__ import annotations

import pytest

from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    return {f.key: f for f in Framework.objects.all()}


@pytest.fixture
def soc2(catalogs) -> Framework:
    return catalogs["soc2-2017"]


@pytest.fixture
def collected(catalogs):
    """Two collections of the demo inventory (it has passing and failing resources)."""
    connection = connection_create(name="Demo", collector_key="demo_inventory", params={})
    items = []
    for _ in range(2):
        run = collection_run_create(connection=connection, trigger="manual")
        run = collection_run_execute(run_id=run.pk)
        assert run.status == "succeeded", run.error_message
        items.append(run.evidence.get())
    return items


@pytest.fixture
def user(db, django_user_model):
    """An engineer (the default role): views reports and PDFs, no requests, no packs."""
    return django_user_model.objects.create_user(username="riley", password="unused-pass-123")


@pytest.fixture
def manager(db):
    from pixaudit.accounts.models import Role
    from tests.security.helpers import user_make

    return user_make(Role.COMPLIANCE_MANAGER, "morgan")


@pytest.fixture
def manager_client(manager):
    """A compliance manager's client, MFA-verified (managers cannot use the app otherwise)."""
    from tests.security.helpers import client_for

    return client_for(manager)


@pytest.fixture
def scope(soc2, collected):
    from pixaudit.reports.services import report_scope_resolve

    return report_scope_resolve(framework_key="soc2-2017")


@pytest.fixture
def stored_report(scope):
    """A succeeded Report whose stored "PDF" is a small stand-in (packs only stream it),
    pinned to the evidence of its period as it stands now."""
    from pixaudit.reports.selectors import evidence_pin_current
    from pixaudit.reports.services import report_create, report_mark_succeeded, report_pdf_save

    report = report_create(scope=scope)
    data = b"%PDF-1.7\n% stand-in for a rendered report\n%%EOF\n"
    return report_mark_succeeded(
        report=report,
        file_path=report_pdf_save(report=report, pdf=data),
        pdf=data,
        page_count=1,
        pin=evidence_pin_current(period=scope.period),
    )


@pytest.fixture
def pack_path(stored_report, tmp_path):
    from pixaudit.reports.services import pack_build

    path = tmp_path / "pack.zip"
    with open(path, "wb") as fh:
        pack_build(report=stored_report, fileobj=fh)
    return path
