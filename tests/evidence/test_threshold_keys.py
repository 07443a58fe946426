"""Unknown assertion ids and threshold names are errors, wherever thresholds are accepted.

Issue 13.9: a typo in a threshold's assertion id ran with the defaults. The services, the
connection form, ad-hoc runs, the runner and the SDK's test helper all refuse it with a
message naming the bad key and the valid ones (the CLI: tests/commands).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from collectors import ParamError
from collectors.testing import run_collector
from pixaudit.evidence.models import CollectionRun, Connection
from pixaudit.evidence.services import (
    ConnectionParamsError,
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)

pytestmark = pytest.mark.django_db

ROTATION = "demo_inventory.key_rotation"
TYPO = "demo_inventory.key_rotaton"


def _create(**thresholds: object) -> Connection:
    return connection_create(
        name="inv", collector_key="demo_inventory", params={}, thresholds=thresholds or None
    )


def test_an_unknown_assertion_id_names_the_valid_ones(field_keys):
    with pytest.raises(ConnectionParamsError) as info:
        _create(**{TYPO: {"max_days": 5}})
    message = info.value.errors[f"thresholds.{TYPO}"]
    assert message.startswith(f"Unknown assertion '{TYPO}' of demo_inventory (valid: ")
    assert "demo_inventory.encryption_at_rest" in message and ROTATION in message
    assert message.endswith(f"Did you mean '{ROTATION}'?")
    assert not Connection.objects.exists()


def test_an_unknown_threshold_name_names_the_valid_ones(field_keys):
    with pytest.raises(ConnectionParamsError) as info:
        _create(**{ROTATION: {"max_dayz": 5}})
    assert info.value.errors == {
        f"thresholds.{ROTATION}.max_dayz": (
            f"Unknown threshold 'max_dayz' of {ROTATION} (valid: max_days)."
        )
    }


def test_an_update_with_a_typo_changes_nothing(field_keys):
    conn = _create(**{ROTATION: {"max_days": 30}})
    with pytest.raises(ConnectionParamsError) as info:
        connection_update(connection=conn, thresholds={TYPO: {"max_days": 5}})
    assert f"thresholds.{TYPO}" in info.value.errors
    assert Connection.objects.get(pk=conn.pk).thresholds == {ROTATION: {"max_days": 30}}


def test_ad_hoc_runs_refuse_unknown_keys(field_keys):
    with pytest.raises(ConnectionParamsError) as info:
        collection_run_create(
            collector_key="demo_inventory", params={}, thresholds={TYPO: {}}, trigger="cli"
        )
    assert f"thresholds.{TYPO}" in info.value.errors
    assert not CollectionRun.objects.exists()


def test_the_runner_refuses_stored_thresholds_it_does_not_know(field_keys, media_root):
    conn = _create()
    Connection.objects.filter(pk=conn.pk).update(thresholds={"demo_inventory.gone": {}})
    run = collection_run_create(connection=Connection.objects.get(pk=conn.pk), trigger="manual")
    run = collection_run_execute(run_id=run.pk)
    assert run.status == "failed" and run.error_permanent
    assert run.error_message.startswith(
        "invalid thresholds: demo_inventory.gone: Unknown assertion 'demo_inventory.gone'"
    )


def test_the_sdk_test_helper_refuses_them_too():
    with pytest.raises(ParamError) as info:
        run_collector("demo_inventory", {}, thresholds={TYPO: {"max_days": 1}})
    assert "Did you mean" in info.value.errors[TYPO]


@pytest.fixture
def engineer_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("eng", password="unused-pass-1"))
    return client


def test_the_connection_form_shows_the_error_on_the_thresholds_field(engineer_client, field_keys):
    page = engineer_client.get(reverse("dashboard:connection_create") + "?collector=demo_inventory")
    text = page.content.decode()
    assert 'name="thresholds"' in text and f"<code>{ROTATION}</code>" in text
    assert "<code>max_days</code> (integer, default <code>90</code>)" in text
    data = {"collector": "demo_inventory", "name": "Inv", "enabled": "on",
            "thresholds": f'{{"{TYPO}": {{"max_days": 5}}}}'}  # fmt: skip
    response = engineer_client.post(reverse("dashboard:connection_create"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors["thresholds"]
    assert errors[0].startswith(f"{TYPO}: Unknown assertion '{TYPO}'")
    assert not Connection.objects.exists()

    data["thresholds"] = "{not json"
    response = engineer_client.post(reverse("dashboard:connection_create"), data)
    assert response.status_code == 400
    assert "Invalid JSON" in response.context["form"].errors["thresholds"][0]

    data["thresholds"] = f'{{"{ROTATION}": {{"max_days": 500}}}}'
    response = engineer_client.post(reverse("dashboard:connection_create"), data)
    assert response.status_code == 302
    conn = Connection.objects.get(name="Inv")
    assert conn.thresholds == {ROTATION: {"max_days": 500}}

    edit = reverse("dashboard:connection_edit", args=[conn.pk])
    assert "&quot;max_days&quot;: 500" in engineer_client.get(edit).content.decode()
    data.pop("collector")
    data["thresholds"] = f'{{"{ROTATION}": {{"max_dayz": 5}}}}'
    response = engineer_client.post(edit, data)
    assert response.status_code == 400
    assert "(valid: max_days)" in response.context["form"].errors["thresholds"][0]
    assert Connection.objects.get(pk=conn.pk).thresholds == {ROTATION: {"max_days": 500}}
