from __future__ import annotations

import pytest

from pixaudit.evidence.models import Connection
from pixaudit.evidence.services import (
    ConnectionParamsError,
    connection_create,
    connection_decrypted_params,
    connection_update,
)

from .conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_create_validates_and_encrypts(field_keys, inventory):
    conn = connection_create(
        name="prod", collector_key=inventory.key,
        params={"region": "us-east-1", "token": SECRET, "max_size": "5"},
    )  # fmt: skip
    conn.refresh_from_db()
    assert conn.params["region"] == "us-east-1"
    assert conn.params["max_size"] == 5  # coerced
    assert "token" not in conn.params
    assert SECRET not in str(conn.secrets) and set(conn.secrets) == {"token"}
    assert connection_decrypted_params(connection=conn)["token"] == SECRET
    assert conn.next_run_at is not None


def test_per_field_errors(field_keys, inventory):
    with pytest.raises(ConnectionParamsError) as exc:
        connection_create(
            name="", collector_key=inventory.key,
            params={"max_size": "lots", "nope": 1}, schedule_minutes=0,
        )  # fmt: skip
    assert set(exc.value.errors) == {"name", "max_size", "nope", "schedule_minutes"}
    assert "whole number" in exc.value.errors["max_size"]
    assert exc.value.errors["nope"] == "Unknown parameter."


def test_unknown_collector_and_duplicate_name(field_keys, inventory):
    with pytest.raises(ConnectionParamsError) as exc:
        connection_create(name="x", collector_key="nosuch_thing", params={})
    assert "Unknown collector" in exc.value.errors["collector_key"]
    connection_create(name="dup", collector_key=inventory.key, params={})
    with pytest.raises(ConnectionParamsError) as exc:
        connection_create(name="dup", collector_key=inventory.key, params={})
    assert "already exists" in exc.value.errors["name"]


def test_secrets_are_write_only_on_update(field_keys, inventory):
    conn = connection_create(name="c", collector_key=inventory.key, params={"token": SECRET})
    before = dict(conn.secrets)
    connection_update(connection=conn, params={"token": "", "region": "ap-south-1"})
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.params["region"] == "ap-south-1"
    assert connection_decrypted_params(connection=conn)["token"] == SECRET  # kept
    assert set(conn.secrets) == set(before)

    connection_update(connection=conn, params={"token": "new-token-9999"})
    conn = Connection.objects.get(pk=conn.pk)
    assert connection_decrypted_params(connection=conn)["token"] == "new-token-9999"

    connection_update(connection=conn, clear_secrets=["token"])
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.secrets == {}


def test_update_errors_do_not_change_anything(field_keys, inventory):
    conn = connection_create(name="c", collector_key=inventory.key, params={"region": "r1"})
    with pytest.raises(ConnectionParamsError) as exc:
        connection_update(connection=conn, params={"max_size": "x"}, name="")
    assert set(exc.value.errors) == {"max_size", "name"}
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.name == "c" and conn.params["region"] == "r1"
