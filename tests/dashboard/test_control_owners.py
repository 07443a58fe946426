"""Control owners: managers assign them, the control list filters by them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pixaudit.auditlog.models import AuditEvent
from pixaudit.controls.models import Control
from pixaudit.posture.models import ControlOwner
from pixaudit.posture.ownership import OwnershipError, control_owner_assign
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(django_user_model):
    return django_user_model.objects.create_user(
        username="mia", password="unused-pass-123", role="compliance_manager"
    )


def _owner_url(ref="CC6.1"):
    return reverse("dashboard:control_owner", args=["soc2-2017", ref])


def test_manager_assigns_an_owner_and_the_list_filters_by_it(catalogs, manager, user):
    client = client_for(manager)
    response = client.post(_owner_url(), {"owner": user.pk})
    assert response.status_code == 302
    assert ControlOwner.objects.get().owner == user
    assert AuditEvent.objects.filter(action="control.owner_assigned").exists()

    listing = reverse("dashboard:control_list")
    owned = client.get(listing, {"framework": "soc2-2017", "owner": user.username})
    assert [r.control.ref for r, _ in owned.context["rows"]] == ["CC6.1"]
    unowned = client.get(listing, {"framework": "soc2-2017", "owner": "-"})
    refs = [r.control.ref for r, _ in unowned.context["rows"]]
    assert "CC6.1" not in refs and len(refs) == 60

    detail = client.get(reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"]))
    assert user.username in detail.content.decode()

    client.post(_owner_url(), {"owner": ""})
    assert not ControlOwner.objects.exists()
    assert AuditEvent.objects.filter(action="control.owner_removed").exists()


def test_engineers_cannot_assign_owners(catalogs, logged_in, user):
    assert logged_in.post(_owner_url(), {"owner": user.pk}).status_code == 403
    assert not ControlOwner.objects.exists()


def test_auditors_and_groups_cannot_be_owners(catalogs, manager, django_user_model):
    auditor = django_user_model.objects.create_user(username="ext", role="auditor")
    control = Control.objects.get(framework__key="soc2-2017", ref="CC6.1")
    with pytest.raises(OwnershipError):
        control_owner_assign(control=control, owner=auditor, actor=manager)
    group = Control.objects.get(framework__key="soc2-2017", ref="CC6")
    with pytest.raises(OwnershipError):
        control_owner_assign(control=group, owner=manager, actor=manager)
    # Through the form, an auditor is not even offered.
    client_for(manager).post(_owner_url(), {"owner": auditor.pk})
    assert not ControlOwner.objects.exists()
