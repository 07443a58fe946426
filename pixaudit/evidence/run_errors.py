"""Why a collection failed, in words a user can act on.

A failed run stores the technical message (``error_message``: what the provider or the
runner said) and a kind (``error_kind``): a :class:`collectors.ErrorKind` value set by the
SDK and the collectors, or one of the runner's kinds below. Pages show
:func:`run_error_advice` first ("the AWS endpoint could not be reached: check network
access or the region") and the technical message as detail; never an exception class name
alone.
"""

from __future__ import annotations

from collectors.errors import ErrorKind

# Kinds the runner itself records (collectors never raise these).
NOT_INSTALLED = "not_installed"
INVALID_SETTINGS = "invalid_settings"
TOO_LARGE = "too_large"
SECRET_IN_OUTPUT = "secret_in_output"
STORAGE = "storage"
INTERNAL = "internal"
INTERRUPTED = "interrupted"
DATABASE = "database"

RUNNER_KINDS = frozenset(
    {NOT_INSTALLED, INVALID_SETTINGS, TOO_LARGE, SECRET_IN_OUTPUT, STORAGE, INTERNAL,
     INTERRUPTED, DATABASE}
)  # fmt: skip

#: The source named in advice, by the collector key's first word.
_SOURCES = {
    "aws": "AWS",
    "github": "GitHub",
    "okta": "Okta",
    "fleet": "Fleet",
    "jamf": "Jamf Pro",
    "postgres": "PostgreSQL",
    "tls": "TLS",
    "demo": "demo sandbox",
}

#: Source-specific hints for a network failure.
_NETWORK_HINTS = {
    "aws": "check network access or the region",
    "postgres": "check the host and port in the dsn and that the server accepts connections",
}

_ADVICE = {
    ErrorKind.NETWORK: "the {source} endpoint could not be reached: {hint}",
    ErrorKind.TLS: (
        "the {source} endpoint's TLS certificate was not accepted: if it uses a private CA, "
        "give it as the connection's ca_bundle; otherwise check the address"
    ),
    ErrorKind.CREDENTIALS: (
        "{source} refused the credentials: enter current credentials on the connection"
    ),
    ErrorKind.PERMISSION: (
        "the credentials lack a permission{action}: grant it (the connection page lists "
        "every permission this collector needs)"
    ),
    ErrorKind.RATE_LIMITED: (
        "{source} limited the rate of requests: the next attempt waits; if it keeps "
        "happening, collect less often"
    ),
    ErrorKind.SERVER: (
        "{source} answered with a server error: usually temporary, the next attempt retries"
    ),
    ErrorKind.REQUEST: (
        "{source} rejected a request: check the connection's settings (account, organisation, "
        "names)"
    ),
    ErrorKind.CONFIGURATION: "the connection's settings cannot work: edit the connection",
    ErrorKind.TIME_BUDGET: (
        "the collection ran out of time: narrow the connection's scope or try again later"
    ),
    NOT_INSTALLED: (
        "the collector is not installed on this server: install its package or disable the "
        "connection"
    ),
    INVALID_SETTINGS: "the connection's settings are not valid: edit the connection",
    TOO_LARGE: (
        "the collected evidence is larger than this server accepts: narrow the connection's "
        "scope or raise PIXAUDIT_ARTIFACT_MAX_BYTES"
    ),
    SECRET_IN_OUTPUT: (
        "the collector returned a secret in its output, so nothing was stored: report this "
        "collector bug"
    ),
    STORAGE: (
        "the evidence could not be stored (the store, or the worker's temporary space, is "
        "full, read-only or unreachable): fix the storage; the next attempt retries"
    ),
    INTERNAL: (
        "the collector failed unexpectedly: the server log has the details; report it with "
        "this run's number"
    ),
    INTERRUPTED: (
        "the worker running the collection stopped before it finished: it is retried automatically"
    ),
    DATABASE: "the database was unreachable during the run: the next attempt retries",
}


def source_name(collector_key: str) -> str:
    """``AWS`` for ``aws_s3_buckets``; the key's first word for sources not listed."""
    first = (collector_key or "").split("_", 1)[0]
    return _SOURCES.get(first, first or "the source")


def run_error_advice(*, kind: str, collector_key: str, action: str = "") -> str:
    """One sentence saying what failed and what to do, or "" when the kind is unknown."""
    template = _ADVICE.get(kind)
    if template is None:
        return ""
    first = (collector_key or "").split("_", 1)[0]
    text = template.format(
        source=source_name(collector_key),
        hint=_NETWORK_HINTS.get(first, "check network access and the endpoint's address"),
        action=f" ({action})" if action else "",
    )
    return text[0].upper() + text[1:] + "."
