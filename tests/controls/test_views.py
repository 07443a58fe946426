"""Catalog pages: login required, tree, search, 404s."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from pixaudit.controls.selectors import control_get_by_address
from pixaudit.controls.services import check_mappings_sync, mapping_override_create
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("controls:framework_list", {}),
        ("controls:framework_detail", {"framework_key": "soc2-2017"}),
        ("controls:control_detail", {"framework_key": "soc2-2017", "ref": "CC6.1"}),
    ],
)
def test_anonymous_is_redirected_to_login(client, catalogs, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))


def test_urls():
    assert reverse("controls:framework_list") == "/catalog/"
    assert reverse("controls:framework_detail", args=["iso27001-2022"]) == "/catalog/iso27001-2022/"
    assert reverse("controls:control_detail", args=["iso27001-2022", "A.8.24"]) == (
        "/catalog/iso27001-2022/A.8.24/"
    )


def test_framework_list(logged_in, catalogs):
    response = logged_in.get(reverse("controls:framework_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "SOC 2 — 2017 Trust Services Criteria" in html
    assert "ISO/IEC 27001:2022" in html
    assert "<caption>" in html and 'scope="col"' in html
    frameworks = {f.key: f for f in response.context["frameworks"]}
    assert frameworks["soc2-2017"].assessable_count == 61


def test_framework_detail_shows_the_tree(logged_in, catalogs, django_assert_max_num_queries):
    url = reverse("controls:framework_detail", args=["iso27001-2022"])
    with django_assert_max_num_queries(8):
        response = logged_in.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="tree"' in html
    assert "Use of cryptography" in html and "Information security risk assessment" in html
    assert reverse("controls:control_detail", args=["iso27001-2022", "A.8.24"]) in html
    assert '<label for="id_q">' in html and '<label for="id_group">' in html
    assert "style=" not in html and "<script" not in html


def test_search_filters_the_tree(logged_in, catalogs):
    url = reverse("controls:framework_detail", args=["soc2-2017"])
    response = logged_in.get(url, {"q": "malicious"})
    html = response.content.decode()
    assert response.context["match_count"] == 1
    assert "CC6.8" in html and "Preventing or detecting malicious software" in html
    assert "CC1.1" not in html and "Commitment to integrity" not in html

    response = logged_in.get(url, {"group": "A1"})
    assert response.context["match_count"] == 3
    assert "Capacity monitoring" in response.content.decode()
    assert "CC6.1" not in response.content.decode()

    response = logged_in.get(url, {"group": "NOPE"})
    assert response.status_code == 200
    assert response.context["unknown_group"] is True


def test_unknown_framework_and_control_are_404(logged_in, catalogs):
    assert logged_in.get("/catalog/nist-800-53/").status_code == 404
    assert (
        logged_in.get(reverse("controls:control_detail", args=["soc2-2017", "CC6.99"])).status_code
        == 404
    )
    assert (
        logged_in.get(reverse("controls:control_detail", args=["nope", "CC6.1"])).status_code == 404
    )


def test_control_detail_shows_group_and_mappings(logged_in, catalogs, user):
    check_mappings_sync(
        declarations=[
            (
                "aws_s3_buckets.default_encryption",
                "soc2-2017:CC6.1",
                "Encryption at rest",
                "builtin",
            ),
            ("okta_users.mfa_enrolled", "soc2-2017:CC6.1", "MFA on every account", "builtin"),
        ]
    )
    mapping_override_create(
        assertion_id="okta_users.mfa_enrolled",
        control=control_get_by_address("soc2-2017:CC6.1"),
        action="remove",
        reason="Okta is being retired",
        user=user,
    )
    response = logged_in.get(reverse("controls:control_detail", args=["soc2-2017", "CC6.1"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Logical access security software and architecture" in html
    assert "Logical and Physical Access Controls" in html  # the parent group
    assert "aws_s3_buckets.default_encryption" in html and "Encryption at rest" in html
    assert "Okta is being retired" in html and user.get_username() in html
    assert "removed" in html


def test_group_detail_lists_children(logged_in, catalogs):
    response = logged_in.get(reverse("controls:control_detail", args=["iso27001-2022", "6.1"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "6.1.2" in html and "Evidence checks" not in html


def test_admin_pages_render(catalogs, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="x" * 16)
    assert admin.role == "admin"
    client = client_for(admin)  # signed in and MFA-verified, as the admin site requires
    check_mappings_sync(
        declarations=[
            (
                "aws_s3_buckets.default_encryption",
                "soc2-2017:CC6.1",
                "Encryption at rest",
                "builtin",
            ),
        ]
    )
    for model in ("framework", "control", "checkmapping", "mappingoverride"):
        response = client.get(reverse(f"admin:controls_{model}_changelist"))
        assert response.status_code == 200, model
    response = client.get(reverse("admin:controls_control_changelist"), {"q": "cryptography"})
    assert b"A.8.24" in response.content
    response = client.get(reverse("admin:controls_mappingoverride_add"))
    assert response.status_code == 200
    control = control_get_by_address("soc2-2017:CC6.1")
    response = client.post(
        reverse("admin:controls_mappingoverride_add"),
        {
            "assertion_id": "aws_s3_buckets.default_encryption",
            "control": control.pk,
            "action": "add",
            "reason": "dup",
        },
    )
    assert response.status_code == 200  # re-rendered with the validation error
    assert b"already exists" in response.content
    response = client.post(
        reverse("admin:controls_mappingoverride_add"),
        {
            "assertion_id": "aws_s3_buckets.default_encryption",
            "control": control.pk,
            "action": "remove",
            "reason": "Covered elsewhere",
        },
    )
    assert response.status_code == 302
    assert control.overrides.get().created_by == admin
