"""OpenAPI post-processing: problem responses and each operation's scope and roles."""

from __future__ import annotations

from typing import Any

from django.urls import resolve

from pixaudit.accounts.permissions import ACTIONS
from pixaudit.api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "row": {"type": ["integer", "null"]},
                    "detail": {"type": "string"},
                },
                "required": ["detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

_DESCRIPTIONS = {
    "400": "Invalid request (problem details name every bad field).",
    "401": "No valid token.",
    "403": "The token's scope or the user's role does not allow this.",
    "404": "Not found (or not visible to this user).",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Conflict with the current state.",
    "413": "Too large.",
    "415": "Unsupported media type.",
    "422": "The content cannot be stored (every problem named).",
    "429": "Rate limited (see Retry-After).",
    "503": "The evidence store is unavailable; nothing was stored.",
}
_COMMON = ("400", "401", "403", "404", "405", "406", "415", "429")
_WRITES = ("409", "413", "422", "503")


def _view_for(path: str):
    sample = path.replace("{key}", "x").replace("{pk}", "1").replace("{id}", "1")
    sample = sample.replace("{evidence_pk}", "1").replace("{request_pk}", "1")
    try:
        return resolve(sample).func.view_class
    except Exception:  # noqa: BLE001 - a path that does not resolve gets no extra fields
        return None


def _path_parameters(op: dict[str, Any]) -> None:
    # What the URL converters accept: <int:…> digits only, <slug:…> [-a-zA-Z0-9_]+.
    for param in op.get("parameters", []):
        if param.get("in") != "path":
            continue
        schema = param.setdefault("schema", {})
        if schema.get("type") == "integer":
            schema["minimum"] = 0
            schema["maximum"] = 2**63 - 1
        elif schema.get("type") == "string":
            schema["pattern"] = "^[-a-zA-Z0-9_]+$"


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the Problem component, problem responses on every operation, and
    ``x-pixaudit-scope`` / ``x-pixaudit-roles``."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in result.get("paths", {}).items():
        view = _view_for(path)
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _path_parameters(op)
            codes = _COMMON + (_WRITES if method != "get" else ())
            for code in codes:
                op["responses"].setdefault(
                    code, {"description": _DESCRIPTIONS[code], "content": problem}
                )
            for code, response in op["responses"].items():
                # An error a view declares itself (e.g. 409) is a problem too.
                if code == "422" or (code[0] in "45" and not response.get("content")):
                    response["content"] = problem
            access = getattr(view, "access", {}).get(method.upper()) if view else None
            if access:
                scope, action = access
                op["x-pixaudit-scope"] = scope
                op["x-pixaudit-roles"] = ", ".join(sorted(ACTIONS[action]))
    return result
