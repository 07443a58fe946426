"""Writes on connections: validated params, encrypted write-only secrets.

Secrets stay bound to where they were entered for: changing a destination param (declared
``Param(..., destination=True)``: base URL, endpoint, host, role ARN) requires re-entering
every stored secret, and while a connection holds a secret its destination URLs must be
``https://`` (``collectors.destinations``). Such a change is audit-logged with its author.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from collectors import Collector, ParamError, registry
from collectors.base import validate_params
from collectors.destinations import changed_destinations, destination_errors
from collectors.evaluate import validate_thresholds
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence import crypto
from pixaudit.evidence.models import Connection

__all__ = [
    "UNSET",
    "ConnectionParamsError",
    "allow_http_loopback",
    "app_register_collector_keys",
    "app_register_message",
    "collector_class",
    "collector_is_app_register",
    "collector_is_pushed",
    "connection_create",
    "connection_decrypted_params",
    "connection_next_run_at",
    "connection_secret_values",
    "connection_secrets_set",
    "connection_update",
    "decrypt_secrets",
    "push_collector_keys",
    "encrypt_secrets",
    "connectable_collectors",
    "split_params",
]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: Marks a keyword argument of an update as "leave unchanged".
UNSET: Any = _Unset()


class ConnectionParamsError(ValueError):
    """Invalid connection input; ``errors`` maps a field/param name to a message.

    Keys are param names, or ``name``, ``collector_key``, ``schedule_minutes``; every problem
    is reported at once so a form can show them together. Messages never contain a secret.
    """

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        super().__init__(f"invalid connection: {detail}")


def collector_class(key: str) -> type[Collector]:
    """The registered collector class for ``key`` (``KeyError`` with a clear text if none)."""
    registry.discover()
    return registry.get(key)


def collector_is_pushed(key: str) -> bool:
    """Whether the collector ``key`` is a push collector (its rows arrive by API)."""
    try:
        return bool(getattr(collector_class(key), "push", False))
    except KeyError:
        return False


def push_collector_keys() -> list[str]:
    """Keys of every installed push collector: their connections are never scheduled or run."""
    registry.discover()
    return sorted(c.key for c in registry.all_collectors() if getattr(c, "push", False))


def collector_is_app_register(key: str) -> bool:
    """Whether the collector ``key`` is an app register (the app records its rows itself)."""
    try:
        return bool(getattr(collector_class(key), "app_register", False))
    except KeyError:
        return False


def app_register_collector_keys() -> list[str]:
    """Keys of every app-register collector: they have no connections and are never run."""
    registry.discover()
    return sorted(c.key for c in registry.all_collectors() if getattr(c, "app_register", False))


def connectable_collectors() -> list[type[Collector]]:
    """The collectors a connection can be added for (every one but the app registers)."""
    registry.discover()
    return [c for c in registry.all_collectors() if not getattr(c, "app_register", False)]


def app_register_message(cls: type[Collector]) -> str:
    """Why ``cls`` (an app register) has no connection: where its evidence comes from."""
    return (
        f"{cls.key} is recorded by pixaudit from {cls.recorded_in}: its evidence is appended "
        "after each change there, so it has no connection and is never run."
    )


def _push_schedule_problem(cls: type[Collector], schedule_minutes: Any) -> str | None:
    if getattr(cls, "push", False) and schedule_minutes is not None:
        return (
            f"{cls.key} is a push collector: its evidence arrives by POST "
            f"/api/v1/push/{cls.key}/?connection=<name or id>, so it has no schedule."
        )
    return None


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def split_params(cls: type[Collector], values: Mapping[str, Any]) -> tuple[dict, dict]:
    """Split validated values into (non-secret params, secret values that are set)."""
    secret_names = set(cls.secret_param_names())
    public = {k: v for k, v in values.items() if k not in secret_names}
    secret = {k: v for k, v in values.items() if k in secret_names and not _is_blank(v)}
    return public, secret


def encrypt_secrets(kind: str, object_id: int, secrets: Mapping[str, Any]) -> dict[str, str]:
    """Encrypt each secret value, bound to ``<kind>:<id>:<name>``."""
    return {
        name: crypto.encrypt(str(value), aad=crypto.secret_aad(kind, object_id, name))
        for name, value in secrets.items()
    }


def decrypt_secrets(kind: str, object_id: int, tokens: Mapping[str, str]) -> dict[str, str]:
    return {
        name: crypto.decrypt(token, aad=crypto.secret_aad(kind, object_id, name))
        for name, token in tokens.items()
    }


def allow_http_loopback() -> bool:
    """Whether secrets may go over plain HTTP to loopback (tests' fixture servers only)."""
    return bool(getattr(settings, "PIXAUDIT_ALLOW_HTTP_LOOPBACK", False))


def _validate(
    cls: type[Collector], values: Mapping[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """Validated values (``{}`` on error); also refuses destinations unsafe for secrets."""
    try:
        validated = validate_params(cls.params, values)
    except ParamError as exc:
        secret_names = set(cls.secret_param_names())
        for name, message in exc.errors.items():
            # A coercion message may quote the value; for a secret, say only what is wrong.
            errors[name] = (
                "Invalid value."
                if name in secret_names and "required" not in (message.lower())
                else message
            )
        return {}
    unsafe = destination_errors(cls.params, validated, allow_http_loopback=allow_http_loopback())
    errors.update(unsafe)
    return {} if unsafe else validated


def validate_connection_thresholds(
    cls: type[Collector], thresholds: Any, errors: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The validated overrides (only the values given, coerced); problems go to ``errors``.

    Error keys are ``thresholds.<assertion_id>[.<param>]`` so a form can show each next to
    its field.
    """
    if not thresholds:
        return {}
    if not isinstance(thresholds, Mapping) or not all(
        isinstance(v, Mapping) for v in thresholds.values()
    ):
        errors["thresholds"] = 'Give thresholds as {"<assertion id>": {"<param>": value}}.'
        return {}
    try:
        complete = validate_thresholds(cls, thresholds)
    except ParamError as exc:
        errors.update({f"thresholds.{key}": message for key, message in exc.errors.items()})
        return {}
    return {aid: {k: complete[aid][k] for k in values} for aid, values in thresholds.items()}


def _check_schedule(schedule_minutes: Any, errors: dict[str, str]) -> None:
    if schedule_minutes is None:
        return
    if isinstance(schedule_minutes, bool) or not isinstance(schedule_minutes, int):
        errors["schedule_minutes"] = "Enter a whole number of minutes."
    elif schedule_minutes < 1:
        errors["schedule_minutes"] = "The interval must be at least 1 minute."


def connection_create(
    *,
    name: str,
    collector_key: str,
    params: Mapping[str, Any],
    schedule_minutes: int | None = None,
    enabled: bool = True,
    user: Any = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    request: Any = None,
) -> Connection:
    """Create a connection after validating ``params`` (secrets included) per field.

    Secret params are encrypted; the rest is stored as validated. Raises
    :class:`ConnectionParamsError` (also for an app-register collector, which has no
    connection: its rows are recorded by the app). The new connection is due at once
    (``next_run_at`` now), except a connection of a push collector: no schedule, never
    due, evidence arrives by ``POST /api/v1/push/<key>/?connection=<name or id>`` and is
    its current state.
    Audited as ``connection.created`` (param and secret names, never values).
    """
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "A name is required."
    elif Connection.objects.filter(name=name).exists():
        errors["name"] = f"A connection named {name!r} already exists."
    _check_schedule(schedule_minutes, errors)
    try:
        cls = collector_class(collector_key)
    except KeyError:
        errors["collector_key"] = f"Unknown collector {collector_key!r}."
        raise ConnectionParamsError(errors) from None
    if getattr(cls, "app_register", False):
        raise ConnectionParamsError({"collector_key": app_register_message(cls)})
    if problem := _push_schedule_problem(cls, schedule_minutes):
        errors["schedule_minutes"] = problem
    validated = _validate(cls, params, errors)
    overrides = validate_connection_thresholds(cls, thresholds, errors)
    if errors:
        raise ConnectionParamsError(errors)
    public, secret = split_params(cls, validated)
    try:
        with transaction.atomic():
            conn = Connection.objects.create(
                name=name,
                collector_key=collector_key,
                params=public,
                thresholds=overrides,
                schedule_minutes=schedule_minutes,
                enabled=enabled,
                # A push connection is never due: its evidence arrives by API.
                next_run_at=None if cls.push else timezone.now(),
                created_by=_user_or_none(user),
                updated_by=_user_or_none(user),
            )
            # The id is part of each secret's associated data, so encrypt after the insert.
            conn.secrets = encrypt_secrets("connection", conn.pk, secret)
            conn.save(update_fields=["secrets"])
            audit_log_record(
                actor=_user_or_none(user), action="connection.created", obj=conn,
                request=request, collector=collector_key, params=sorted(public),
                secrets=sorted(secret), thresholds=sorted(overrides),
                schedule_minutes=schedule_minutes, enabled=enabled,
            )  # fmt: skip
    except IntegrityError:
        raise ConnectionParamsError(
            {"name": f"A connection named {name!r} already exists."}
        ) from None
    return conn


def connection_update(
    *,
    connection: Connection,
    name: Any = UNSET,
    params: Mapping[str, Any] | None = None,
    clear_secrets: Iterable[str] = (),
    schedule_minutes: Any = UNSET,
    enabled: Any = UNSET,
    thresholds: Any = UNSET,
    user: Any = None,
    request: Any = None,
) -> Connection:
    """Change a connection. Only the arguments given change.

    ``user`` becomes ``updated_by``; the change is audited as ``connection.updated`` with
    the names of what changed (fields, params, secrets entered or removed), never a value.

    ``thresholds`` replaces the stored overrides as a whole (``{}`` resets to defaults).

    ``params`` is merged over the stored values: a non-secret set to ``None``/blank is unset
    (its default applies); a secret left blank keeps the stored value (secrets are
    write-only: forms never show them, so a blank field means "unchanged"). Remove a stored
    secret explicitly with ``clear_secrets``.

    Changing a destination param requires a fresh value for every stored secret (an error
    on each secret not re-entered): a blank secret never follows a changed base URL, host
    or role. Such a change is audit-logged (``connection.destination_changed``, by
    ``user``) with the names of the params changed and of the secrets re-entered.
    """
    errors: dict[str, str] = {}
    if name is not UNSET:
        name = (name or "").strip()
        if not name:
            errors["name"] = "A name is required."
        elif Connection.objects.filter(name=name).exclude(pk=connection.pk).exists():
            errors["name"] = f"A connection named {name!r} already exists."
    if schedule_minutes is not UNSET:
        _check_schedule(schedule_minutes, errors)
    cls = collector_class(connection.collector_key)
    if schedule_minutes is not UNSET and (problem := _push_schedule_problem(cls, schedule_minutes)):
        errors["schedule_minutes"] = problem
    stored_secrets = decrypt_secrets("connection", connection.pk, connection.secrets)
    for secret_name in clear_secrets:
        stored_secrets.pop(secret_name, None)
    before: dict[str, Any] = {**connection.params, **stored_secrets}
    merged = dict(before)
    secret_names = set(cls.secret_param_names())
    reentered: set[str] = set()
    for key, value in (params or {}).items():
        if key in secret_names and _is_blank(value):
            continue  # write-only: blank keeps the stored secret
        if key in secret_names:
            reentered.add(key)
        merged[key] = value
    declared = {p.name for p in cls.params}
    # Stored values of params the collector no longer declares are dropped, not errors.
    merged = {k: v for k, v in merged.items() if k in declared or k in (params or {})}
    validated = _validate(cls, merged, errors)
    destinations = changed_destinations(cls.params, before, validated) if validated else []
    if destinations:
        changed = ", ".join(destinations)
        for secret_name in sorted(set(stored_secrets) - reentered):
            errors[secret_name] = (
                f"Re-enter this secret: {changed} changed, and a stored secret is never sent "
                "to a new destination without being entered again."
            )
    if thresholds is not UNSET:
        thresholds = validate_connection_thresholds(cls, thresholds, errors)
    if errors:
        raise ConnectionParamsError(errors)
    public, secret = split_params(cls, validated)
    before = _connection_snapshot(connection)
    if thresholds is not UNSET:
        connection.thresholds = thresholds
    if name is not UNSET:
        connection.name = name
    if schedule_minutes is not UNSET:
        connection.schedule_minutes = schedule_minutes
    if enabled is not UNSET:
        connection.enabled = bool(enabled)
    connection.params = public
    connection.secrets = encrypt_secrets("connection", connection.pk, secret)
    connection.updated_by = _user_or_none(user) or connection.updated_by
    entered = sorted(k for k, v in (params or {}).items() if k in secret_names and not _is_blank(v))
    removed = sorted(set(before["secrets"]) - set(secret))
    try:
        with transaction.atomic():
            connection.save()
            # Every edit is audited: names of what changed, never a value.
            audit_log_record(
                actor=_user_or_none(user), action="connection.updated", obj=connection,
                request=request, **_connection_changes(before, connection),
                secrets_set=entered, secrets_removed=removed,
            )  # fmt: skip
            if destinations:
                audit_log_record(
                    actor=_user_or_none(user),
                    action="connection.destination_changed",
                    obj=connection,
                    request=request,
                    params=destinations,
                    secrets_reentered=sorted(reentered),
                )
    except IntegrityError:
        raise ConnectionParamsError(
            {"name": "A connection with this name already exists."}
        ) from None
    return connection


def _user_or_none(user: Any) -> Any:
    return user if getattr(user, "pk", None) and getattr(user, "is_authenticated", False) else None


def _connection_snapshot(connection: Connection) -> dict[str, Any]:
    return {
        "name": connection.name,
        "enabled": connection.enabled,
        "schedule_minutes": connection.schedule_minutes,
        "thresholds": dict(connection.thresholds),
        "params": dict(connection.params),
        "secrets": sorted(connection.secrets),
    }


def _connection_changes(before: dict[str, Any], connection: Connection) -> dict[str, list[str]]:
    """What an edit changed, by name: fields, non-secret params and threshold overrides."""
    after = _connection_snapshot(connection)
    fields = [f for f in ("name", "enabled", "schedule_minutes") if before[f] != after[f]]
    if before["thresholds"] != after["thresholds"]:
        fields.append("thresholds")
    names = set(before["params"]) | set(after["params"])
    params = sorted(n for n in names if before["params"].get(n) != after["params"].get(n))
    return {"fields": fields, "params": params}


def connection_secret_values(*, connection: Connection) -> dict[str, str]:
    """The decrypted secrets of a connection (for the runner only; never render them)."""
    return decrypt_secrets("connection", connection.pk, connection.secrets)


def connection_decrypted_params(*, connection: Connection) -> dict[str, Any]:
    """Params with secrets decrypted, ready for a ``CollectionContext``. Runner use only."""
    return {**connection.params, **connection_secret_values(connection=connection)}


def connection_secrets_set(*, connection: Connection) -> list[str]:
    """Names of the secrets that have a stored value (what a form may say is "set")."""
    return sorted(connection.secrets)


def connection_next_run_at(*, connection: Connection, after: datetime | None = None) -> datetime:
    """When the connection is due next: ``after`` + its interval (or the collector's max_age)."""
    after = after or timezone.now()
    if connection.schedule_minutes:
        return after + timedelta(minutes=connection.schedule_minutes)
    try:
        return after + collector_class(connection.collector_key).max_age
    except KeyError:
        return after + timedelta(days=1)
