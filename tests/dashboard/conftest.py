"""Fixtures for dashboard pages: catalogs + mappings, a signed-in user, demo evidence."""

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

#: A secret the tests type into forms; it must never come back in any response.
SECRET = "demo-T0ken-never-shown-7781"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    catalogs_load_builtin()
    check_mappings_sync_from_registry()
    return {f.key: f for f in Framework.objects.all()}


@pytest.fixture
def user(db, django_user_model):
    # An engineer: reads posture, manages connections; needs no MFA.
    return django_user_model.objects.create_user(username="casey", password="unused-pass-123")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def demo_connection(catalogs, media_root):
    return connection_create(
        name="Demo inventory", collector_key="demo_inventory", params={"api_token": SECRET}
    )


@pytest.fixture
def demo_run(demo_connection):
    run = collection_run_create(connection=demo_connection, trigger="manual")
    run = collection_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error_message
    return run
