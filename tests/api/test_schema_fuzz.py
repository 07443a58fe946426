"""schemathesis against the live schema, for every endpoint and every role.

The schema is loaded from ``/api/v1/schema/`` of the running app (WSGI, with a token); then
every operation is called with generated data as admin, compliance manager, engineer,
auditor, an auditor whose access ended and without a token. Each call must not be a server
error and must match the schema (status code, content type, headers, body). Each call runs
in a savepoint rolled back afterwards, so every example meets the same world.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pixaudit.api.models import ApiToken
from pixaudit.api.services import token_hash
from tests.api.helpers import token_for

pytestmark = pytest.mark.django_db
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = ("admin", "manager", "engineer", "auditor", "expired_auditor", "anonymous")
EXAMPLES = 8


@pytest.fixture
def wsgi_app():
    """The real WSGI application, minus closing the database connection after each request
    (the test's transaction holds the world; django.test.Client does the same)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(world, role: str) -> str | None:
    if role == "anonymous":
        return None
    if role == "expired_auditor":
        secret = token_for(world.auditor, ["read"])
        ApiToken.objects.filter(token_hash=token_hash(secret)).update(user=world.expired_auditor)
        return secret
    return token_for(getattr(world, role))


def _fuzz(operation, headers: dict, seen: dict[str, set[int]]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(data=st.data())
    def run(data):
        case = data.draw(operation.as_strategy())
        with transaction.atomic():
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
        seen.setdefault(operation.label, set()).add(response.status_code)

    run()


@override_settings(PIXAUDIT_API_RATE_PER_TOKEN="100000/minute",
                   PIXAUDIT_API_RATE_PER_IP="100000/minute")  # fmt: skip
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_for_every_role(world, role, wsgi_app):
    app = wsgi_app
    loader = token_for(world.admin, ["read"])
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", app, headers={"Authorization": f"Bearer {loader}"}
    )
    secret = _token(world, role)
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    seen: dict[str, set[int]] = {}
    for operation in operations:
        _fuzz(operation, headers, seen)
    assert len(seen) == len(operations)
    if role in ("expired_auditor", "anonymous"):
        assert all(codes == {401} for codes in seen.values()), seen
    if role == "admin":
        assert any(200 in codes for codes in seen.values())
