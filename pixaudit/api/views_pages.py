"""Pages of the API app (session sign-in): the tokens page and the API reference."""

from __future__ import annotations

import json
from functools import cache

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from pixaudit.accounts.permissions import action_required
from pixaudit.api.forms import TokenForm
from pixaudit.api.models import ApiToken
from pixaudit.api.selectors import tokens_visible_to
from pixaudit.api.services import token_create, token_revoke


def _tokens_page(request: HttpRequest, form: TokenForm, created=None, status: int = 200):
    tokens = tokens_visible_to(user=request.user)
    context = {"form": form, "tokens": tokens, "created": created, "now": timezone.now()}
    return render(request, "api/tokens.html", context, status=status)


@action_required("api.use")
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST creates one and shows its secret once."""
    if request.method != "POST":
        return _tokens_page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    data = form.cleaned_data
    try:
        created = token_create(
            user=request.user, name=data["name"], scopes=list(data["scopes"]),
            kind=data["kind"], expires_in_days=data["expires_in_days"],
            push_connection=data.get("push_connection"), request=request,
        )  # fmt: skip
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _tokens_page(request, form, status=400)
    response = _tokens_page(request, TokenForm(), created=created)
    response["Cache-Control"] = "no-store"  # the secret is on this page, once
    return response


@require_POST
@action_required("api.use")
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(tokens_visible_to(user=request.user), pk=pk)
    try:
        token_revoke(token=token, user=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Revoked {token.name}.")
    return redirect("api:tokens")


@cache
def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True),
                                 default=str))  # fmt: skip


def _operations(schema: dict) -> list[dict]:
    out = []
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
            out.append({
                "method": method.upper(), "path": path, "summary": op.get("description", ""),
                "scope": op.get("x-pixaudit-scope", ""), "roles": op.get("x-pixaudit-roles", ""),
                "params": [p["name"] for p in params],
            })  # fmt: skip
    return out


@action_required("api.use")
def reference(request: HttpRequest) -> HttpResponse:
    """The API reference, rendered from the live OpenAPI schema (no script)."""
    schema = _schema()
    return render(request, "api/reference.html",
                  {"operations": _operations(schema), "info": schema.get("info", {})})  # fmt: skip


@action_required("api.use")
def reference_schema(request: HttpRequest) -> HttpResponse:
    """The OpenAPI schema as JSON, for signed-in users (the code's shape: no data, not logged)."""
    return HttpResponse(json.dumps(_schema(), indent=2), content_type="application/json")


__all__ = ["ApiToken", "reference", "reference_schema", "token_list", "token_revoke_view"]
