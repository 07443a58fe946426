"""Downloads whose identity is their SHA-256: evidence artifacts, report PDFs, evidence packs.

The hash is the ``ETag`` (a client holding the bytes asks ``If-None-Match`` and gets a 304,
not logged, nothing read from storage) and the ``Repr-Digest`` (RFC 9530), so a client can
check what it received against the hash the API listed.
"""

from __future__ import annotations

import base64

from django.http import HttpResponse, HttpResponseNotModified


def not_modified(request, sha256: str) -> HttpResponse | None:
    """A 304 carrying the ETag when ``If-None-Match`` names ``sha256`` (or ``*``); else None."""
    etag = f'"{sha256}"'
    match = request.headers.get("If-None-Match", "")
    if etag in [t.strip() for t in match.split(",")] or match.strip() == "*":
        response = HttpResponseNotModified()
        response["ETag"] = etag
        return response
    return None


def with_digest(response: HttpResponse, sha256: str) -> HttpResponse:
    """``response`` with ``ETag`` and ``Repr-Digest`` of ``sha256``; never cached unchecked."""
    response["ETag"] = f'"{sha256}"'
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"
    return response
