"""Fixtures for posture tests: the real catalogs, and a user."""

from __future__ import annotations

import pytest

from pixaudit.controls.models import Control, Framework
from pixaudit.controls.services import catalogs_load_builtin


@pytest.fixture
def catalogs(db) -> dict[str, Framework]:
    catalogs_load_builtin()
    return {f.key: f for f in Framework.objects.all()}


@pytest.fixture
def soc2(catalogs) -> Framework:
    return catalogs["soc2-2017"]


@pytest.fixture
def iso(catalogs) -> Framework:
    return catalogs["iso27001-2022"]


@pytest.fixture
def soc2_controls(soc2) -> list[Control]:
    return list(
        Control.objects.filter(framework=soc2, assessable=True)
        .exclude(kind=Control.Kind.GROUP)
        .order_by("sort_order")
    )


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="morgan", password="unused-pass-123")
