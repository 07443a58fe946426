"""Tokens: shown once and stored hashed, scoped, expiring, revocable, last use recorded;
auditors' tokens never outlive their access; the tokens page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from pixaudit.api.models import ApiToken
from pixaudit.api.services import token_create, token_revoke
from pixaudit.auditlog.models import AuditEvent
from tests.api.helpers import api_client, token_for, token_unchecked
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db
FRAMEWORKS = "/api/v1/frameworks/"


def test_token_is_shown_once_and_stored_hashed(world):
    created = token_create(user=world.engineer, name="ci", scopes=["read"])
    assert created.secret.startswith("pxa_")
    row = ApiToken.objects.get(pk=created.token.pk)
    stored = " ".join(str(v) for v in row.__dict__.values())
    assert created.secret not in stored and created.secret.split("_")[-1] not in stored
    assert len(row.token_hash) == 64
    event = AuditEvent.objects.get(action="api_token.created")
    assert created.secret not in str(event.details)
    assert api_client(created.secret).get(FRAMEWORKS).status_code == 200


def test_default_and_maximum_expiry(world):
    token = token_create(user=world.engineer, name="ci", scopes=["read"]).token
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    with pytest.raises(ValidationError) as caught:
        token_create(user=world.engineer, name="ci", scopes=["read"], expires_in_days=366)
    assert "expires_in_days" in caught.value.message_dict
    with override_settings(PIXAUDIT_API_TOKEN_MAX_DAYS=400):
        token_create(user=world.engineer, name="ci", scopes=["read"], expires_in_days=366)


def test_bad_input_names_every_field(world):
    with pytest.raises(ValidationError) as caught:
        token_create(user=world.engineer, name=" ", scopes=["admin"], kind="robot")
    assert set(caught.value.message_dict) == {"name", "scopes", "kind"}
    with pytest.raises(ValidationError) as caught:
        token_create(user=world.engineer, name="x", scopes=["read"], kind="service")
    assert "kind" in caught.value.message_dict


def test_auditor_token_never_outlives_the_invitation(world):
    invitation = world.auditor.auditor_invitations.get(engagement=world.engagement)
    token = token_create(user=world.auditor, name="audit", scopes=["read"]).token
    assert token.expires_at == invitation.expires_at < timezone.now() + timedelta(days=90)
    with pytest.raises(ValidationError, match="access has ended"):
        token_create(user=world.expired_auditor, name="audit", scopes=["read"])
    # A token that exists (created earlier) stops working the moment access ends.
    secret = token_for(world.auditor, ["read"])
    url = f"/api/v1/engagements/{world.engagement.pk}/evidence/"
    assert api_client(secret).get(url).status_code == 200
    type(invitation).objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    response = api_client(secret).get(url)
    assert response.status_code == 401
    assert response.json()["detail"] == "This auditor's access has ended."
    assert api_client(token_unchecked(world.expired_auditor)).get(url).status_code == 401


def test_revoked_and_expired_tokens_are_refused(world):
    created = token_create(user=world.engineer, name="ci", scopes=["read"])
    token_revoke(token=created.token, user=world.engineer)
    response = api_client(created.secret).get(FRAMEWORKS)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "This token was revoked."
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1
    old = token_create(user=world.engineer, name="old", scopes=["read"])
    ApiToken.objects.filter(pk=old.token.pk).update(expires_at=timezone.now())
    assert api_client(old.secret).get(FRAMEWORKS).json()["detail"] == "This token has expired."
    with pytest.raises(ValidationError):
        token_revoke(token=old.token, user=world.manager)  # not the owner, not an admin


def test_last_use_is_recorded(world):
    created = token_create(user=world.engineer, name="ci", scopes=["read"])
    assert created.token.last_used_at is None
    api_client(created.secret).get(FRAMEWORKS, REMOTE_ADDR="127.0.0.9")
    created.token.refresh_from_db()
    assert created.token.last_used_at is not None and created.token.last_used_ip == "127.0.0.9"


def test_scope_is_required_and_never_beyond_the_role(world):
    read_only = token_for(world.engineer, ["read"])
    response = api_client(read_only).post(
        f"/api/v1/connections/{world.connection.pk}/runs/", content_type="application/json"
    )
    assert response.status_code == 403
    assert "write:runs" in response.json()["detail"]
    with pytest.raises(ValidationError, match="admin"):
        token_create(user=world.manager, name="x", scopes=["admin"])


def test_tokens_page_creates_once_and_revokes(world):
    client = client_for(world.engineer, verified=False)
    page = client.get(reverse("api:tokens"))
    assert page.status_code == 200 and b"Create a token" in page.content
    response = client.post(
        reverse("api:tokens"),
        {"name": "deploy", "scopes": ["read"], "kind": "personal", "expires_in_days": 30},
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="deploy")
    secret = response.content.decode().split('data-testid="token-secret">')[1].split("<")[0]
    assert secret.startswith(f"pxa_{token.prefix}_") and response["Cache-Control"] == "no-store"
    assert secret not in client.get(reverse("api:tokens")).content.decode()
    bad = client.post(
        reverse("api:tokens"),
        {"name": "", "scopes": ["admin"], "kind": "personal", "expires_in_days": 0},
    )
    assert bad.status_code == 400
    client.post(reverse("api:token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None
    other = client_for(world.manager)
    assert other.post(reverse("api:token_revoke", args=[token.pk])).status_code == 404


def test_reference_page_lists_every_operation_with_its_scope(world):
    client = client_for(world.auditor, verified=False)
    page = client.get(reverse("api:reference")).content.decode()
    for path in ("/api/v1/push/{key}/", "/api/v1/findings/", "/api/v1/frameworks/{key}/coverage/"):
        assert f"<code>{path}</code>" in page, path
    assert "<code>write:evidence</code>" in page and "<script" not in page
    schema = client.get(reverse("api:reference_schema")).json()
    assert schema["openapi"].startswith("3.") and "/api/v1/push/{key}/" in schema["paths"]
    assert Client().get(reverse("api:reference")).status_code == 302
