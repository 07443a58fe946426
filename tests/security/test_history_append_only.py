"""History is append-only everywhere the design says so, in the admin, the ORM and PostgreSQL.

The evidence chain, manual evidence and the audit log have their own tests; this covers the
other history: Statement of Applicability decisions, readiness snapshots, mapping overrides,
evidence request status events and audit samples.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.db.utils import DatabaseError
from django.urls import reverse

from pixaudit.audits.models import EvidenceRequestEvent, Sample, SampleResult
from pixaudit.controls.models import Control, MappingOverride
from pixaudit.controls.services import mapping_override_create
from pixaudit.lib.append_only import AppendOnlyHistoryError
from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot
from pixaudit.posture.services import applicability_decide, readiness_snapshot_take
from pixaudit.reports.models import ControlNarrative, ScopeStatement
from pixaudit.reports.services_scope import control_narrative_save, scope_statement_save
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db

HISTORY_MODELS = (ApplicabilityDecision, ReadinessSnapshot, MappingOverride,
                  EvidenceRequestEvent, Sample, SampleResult, ScopeStatement,
                  ControlNarrative)  # fmt: skip


@pytest.fixture
def history(world):
    """One row of each history model (built through the services)."""
    iso = Control.objects.get(framework__key="iso27001-2022", ref="A.8.24")
    return {
        ApplicabilityDecision: applicability_decide(
            control=iso, applicable=False, justification="No cryptography in scope",
            user=world.manager,
        ),
        ReadinessSnapshot: readiness_snapshot_take(framework=world.soc2, day=date(2026, 1, 5)),
        MappingOverride: mapping_override_create(
            assertion_id="demo_inventory.check", control=world.control, action="add",
            reason="covers it", user=world.admin,
        ),
        EvidenceRequestEvent: world.request.events.get(),
        Sample: world.other_sample,  # world.sample has a result (a PROTECT reference)
        SampleResult: world.sample_result,
        ScopeStatement: scope_statement_save(
            framework=world.soc2, actor=world.manager, system_description="The service."
        ),
        ControlNarrative: control_narrative_save(
            control=world.control, text="Quarterly access review.", actor=world.manager
        ),
    }  # fmt: skip


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
def test_orm_refuses_to_change_or_remove_history(history, model):
    row = history[model]
    with pytest.raises(AppendOnlyHistoryError, match="append-only"):
        row.save()
    with pytest.raises(AppendOnlyHistoryError):
        row.delete()
    with pytest.raises(AppendOnlyHistoryError):
        model.objects.filter(pk=row.pk).update(pk=row.pk)
    with pytest.raises(AppendOnlyHistoryError):
        model.objects.all().delete()
    field = next(f for f in model._meta.concrete_fields if not f.primary_key)
    with pytest.raises(AppendOnlyHistoryError), transaction.atomic():
        model.objects.bulk_update([row], fields=[field.name])
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="triggers are PostgreSQL-only")
@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
def test_postgres_triggers_refuse_raw_update_and_delete(history, model):
    table, pk = model._meta.db_table, history[model].pk
    for sql in (f"UPDATE {table} SET id = id WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [pk])
    # The retention hatch (one transaction, explicit) is the only way to remove a row.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pixaudit.retention = 'on'")
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
    assert not model.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
def test_admin_can_neither_add_change_nor_delete_history(history, world, rf, model):
    request = rf.get("/admin/")
    request.user = world.admin
    model_admin = admin.site._registry.get(model)
    row = history[model]
    if model_admin is not None:
        assert not model_admin.has_change_permission(request, row), model
        assert not model_admin.has_delete_permission(request, row), model
        assert not model_admin.has_delete_permission(request), model
        if model is not MappingOverride:  # overrides are added (never edited) in the admin
            assert not model_admin.has_add_permission(request), model
    client = client_for(world.admin)
    label = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    if model_admin is None:
        return
    delete = client.post(reverse(f"{label}_delete", args=[row.pk]), {"post": "yes"})
    assert delete.status_code == 403
    change = client.post(reverse(f"{label}_change", args=[row.pk]), {})
    assert change.status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    bulk = client.post(reverse(f"{label}_changelist"), bulk_delete)
    assert bulk.status_code in (200, 302)
    assert model.objects.filter(pk=row.pk).exists(), "the admin deleted history"


def test_a_control_with_decisions_cannot_be_deleted(history):
    control = history[ApplicabilityDecision].control
    with pytest.raises(ProtectedError):
        Control.objects.filter(pk=control.pk).delete()
    assert ApplicabilityDecision.objects.filter(control=control).exists()
