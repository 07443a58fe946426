"""Fixtures for the controls app. ``catalogs`` loads the real shipped YAML catalogs."""

from __future__ import annotations

import pytest

from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    """The built-in catalogs (SOC 2 2017, ISO 27001:2022), loaded; keyed by framework key."""
    catalogs_load_builtin()
    return {framework.key: framework for framework in Framework.objects.all()}


@pytest.fixture
def soc2(catalogs) -> Framework:
    return catalogs["soc2-2017"]


@pytest.fixture
def iso(catalogs) -> Framework:
    return catalogs["iso27001-2022"]


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="casey", password="not-used-here-123")
