"""Shared plumbing of the AWS collectors: params, identity, regions, paging, concurrency, errors.

Every AWS collector declares :data:`AWS_PARAMS` (credentials, assume-role, regions) and gets
its clients from ``ctx.aws_client(service, region)``, which adds adaptive retries. The helpers
here keep the collector modules small:

- :func:`caller` sets ``ctx.identity`` from ``sts:GetCallerIdentity`` and returns the
  account id; :func:`regions` resolves the ``regions`` param (default: every enabled region).
- :func:`paginate` drains a boto3 paginator; :func:`pmap` runs calls on a bounded thread pool.
- :func:`call` makes one per-resource call: an error (``AccessDenied`` and friends, or any
  other API error) is recorded with ``ctx.error`` naming the IAM action and resource, and the
  collection goes on. :func:`collect_regional` lists resources in every region; a region
  that fails is recorded, and only when every region fails is a :class:`CollectorError`
  raised (permanent when access was denied).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from collectors import CollectionContext, CollectorError, ErrorKind, Param

__all__ = [
    "AWS_PARAMS",
    "BASE_PERMISSIONS",
    "REGIONAL_PERMISSIONS",
    "DENIED_CODES",
    "MAX_WORKERS",
    "concurrency",
    "caller",
    "action_of",
    "call",
    "call_list",
    "collect_regional",
    "days_since",
    "botocore_errors",
    "error_code",
    "home_region",
    "iam_action",
    "is_denied",
    "list_all",
    "paginate",
    "partition_of",
    "pmap",
    "regions",
    "tags_dict",
    "to_collector_error",
]

T = TypeVar("T")
R = TypeVar("R")

#: Default threads per pool (regions or resources; ``PIXAUDIT_AWS_CONCURRENCY`` overrides);
#: boto3 clients allow 32 pooled connections.
MAX_WORKERS = 16

#: Error codes that mean "the credentials lack a permission" (not "the resource is broken").
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "AuthorizationErrorException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "Forbidden",
        "AllAccessDisabled",
    }
)

#: Credential errors: retrying will not help either.
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)

#: botocore exceptions (by class name) that mean the endpoint could not be reached.
_NETWORK_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "HTTPClientError",
    }
)

_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
     "SlowDown"}
)  # fmt: skip

#: Where the IAM action differs from ``<signing name>:<operation>``.
_ACTION_NAMES = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    # API Gateway authorizes by HTTP verb on the resource path, not by operation.
    "apigateway:GetRestApis": "apigateway:GET",
    "apigateway:GetStages": "apigateway:GET",
    "apigateway:GetAccount": "apigateway:GET",
    "apigateway:GetResources": "apigateway:GET",
}

#: Permissions every AWS collector needs (identity) and regional ones add (region discovery).
BASE_PERMISSIONS: tuple[str, ...] = ("sts:GetCallerIdentity",)
REGIONAL_PERMISSIONS: tuple[str, ...] = ("sts:GetCallerIdentity", "ec2:DescribeRegions")

AWS_PARAMS: tuple[Param, ...] = (
    Param(
        "profile",
        "string",
        help="Named profile from the AWS config files (default: the standard credential chain).",
    ),
    Param("access_key_id", "string", secret=True, help="Access key id of an IAM user or role."),
    Param("secret_access_key", "string", secret=True, help="Secret access key."),
    Param("session_token", "string", secret=True, help="Session token of temporary credentials."),
    Param(
        "role_arn",
        "string",
        help="IAM role to assume with the credentials above, e.g. for another account "
        "(arn:aws:iam::123456789012:role/pixaudit-readonly).",
        destination=True,
    ),
    Param("external_id", "string", help="External id required by the role's trust policy."),
    Param(
        "regions",
        "list",
        help="Regions to collect from, comma-separated (default: every region enabled in the "
        "account, from ec2:DescribeRegions).",
    ),
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore exception (its class name when there is none)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def is_denied(exc: BaseException) -> bool:
    """Whether ``exc`` is an authorization failure (a missing IAM permission)."""
    return error_code(exc) in DENIED_CODES


def action_of(client: Any, operation: str) -> str:
    """The IAM action that authorizes ``operation`` on ``client``, e.g. ``s3:ListAllMyBuckets``."""
    prefix = client.meta.service_model.signing_name
    return iam_action(f"{prefix}:{operation}")


def iam_action(recorded: str) -> str:
    """The IAM action of a call recorded as ``<signing name>:<operation>`` (``ctx.api_calls``)."""
    return _ACTION_NAMES.get(recorded, recorded)


def _operation(client: Any, method: str) -> str:
    return client.meta.method_to_api_mapping.get(method, method)


def to_collector_error(exc: BaseException, action: str, where: str = "") -> CollectorError:
    code = error_code(exc)
    permanent = (
        code in DENIED_CODES
        or code in _CREDENTIAL_CODES
        or code
        in (
            "NoCredentialsError",
            "NoRegionError",
            "PartialCredentialsError",
        )
    )
    suffix = f" {where}" if where else ""
    return CollectorError(
        f"{code} on {action}{suffix}", permanent=permanent, action=action, kind=_kind(code)
    )


def _kind(code: str) -> str | None:
    """The :class:`ErrorKind` of an AWS error code or botocore exception name."""
    if code in DENIED_CODES:
        return ErrorKind.PERMISSION
    if code in _CREDENTIAL_CODES or code in ("NoCredentialsError", "PartialCredentialsError"):
        return ErrorKind.CREDENTIALS
    if code in _NETWORK_ERRORS:
        return ErrorKind.NETWORK
    if code in ("NoRegionError", "InvalidRegion"):
        return ErrorKind.CONFIGURATION
    if code in _THROTTLING_CODES:
        return ErrorKind.RATE_LIMITED
    return None


def botocore_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def partition_of(arn: str) -> str:
    """``aws``, ``aws-cn`` or ``aws-us-gov`` from any ARN."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def caller(ctx: CollectionContext) -> tuple[str, str]:
    """Call ``sts:GetCallerIdentity``, set ``ctx.identity`` to the caller ARN.

    Inside an account job (:func:`collectors.aws._sessions.account_sessions`) the answer is
    shared by the account's collectors: one call per account and run. Returns
    ``(account id, partition)``. Failure (bad or missing credentials, unreachable
    endpoint) is a :class:`CollectorError`: nothing can be collected without an identity.
    """
    from collectors.aws._sessions import active

    def fetch() -> dict[str, Any]:
        return ctx.aws_client("sts", home_region(ctx)).get_caller_identity()

    shared = active()
    try:
        identity = fetch() if shared is None else shared.identity(ctx.aws_credentials_key(), fetch)
    except botocore_errors() as exc:
        raise to_collector_error(exc, "sts:GetCallerIdentity") from None
    ctx.identity = identity["Arn"]
    return identity["Account"], partition_of(identity["Arn"])


def home_region(ctx: CollectionContext) -> str:
    """The session's region (profile, environment, or the first ``regions`` entry)."""
    configured = ctx.params.get("regions") or []
    region = ctx.aws_session().region_name
    return region or (configured[0] if configured else "us-east-1")


def regions(ctx: CollectionContext, *, assertions: Iterable[str] = ()) -> list[str]:
    """The regions to collect from, sorted.

    The ``regions`` param wins; otherwise every region enabled in the account
    (``ec2:DescribeRegions``). When that call fails, only the session's region is collected
    and an error naming ``ec2:DescribeRegions`` is recorded for ``assertions``.
    """
    configured = ctx.params.get("regions")
    if configured:
        return sorted(set(configured))
    home = home_region(ctx)
    client = ctx.aws_client("ec2", home)
    try:
        response = client.describe_regions(AllRegions=False)
    except botocore_errors() as exc:
        ctx.error(
            f"{error_code(exc)} on ec2:DescribeRegions: only {home} was collected "
            "(grant ec2:DescribeRegions or set the regions parameter)",
            action="ec2:DescribeRegions",
            assertions=tuple(assertions),
        )
        return [home]
    found = {
        r["RegionName"]
        for r in response.get("Regions", [])
        if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
    }
    return sorted(found) or [home]


def list_all(client: Any, method: str, key: str, **kwargs: Any) -> list[Any]:
    """:func:`paginate` for a collector's top-level listing: failure is a CollectorError.

    Without this listing there is no usable data, so an error (permanent when access is
    denied) names the IAM action, e.g. ``AccessDenied on s3:ListAllMyBuckets``.
    """
    try:
        return paginate(client, method, key, **kwargs)
    except botocore_errors() as exc:
        raise to_collector_error(exc, action_of(client, _operation(client, method))) from None


def paginate(client: Any, method: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item under ``key`` across all pages of ``client.<method>(**kwargs)``."""
    items: list[Any] = []
    for page in client.get_paginator(method).paginate(**kwargs):
        items.extend(page.get(key) or [])
    return items


def concurrency(api: str | None = None) -> int:
    """Threads for per-resource calls of one account, capped for ``api`` when configured.

    ``PIXAUDIT_AWS_CONCURRENCY`` (default :data:`MAX_WORKERS`) bounds every pool of one
    account's collection; ``PIXAUDIT_AWS_API_CONCURRENCY`` caps single APIs by service
    (``"s3=4,kms=2"``). A bad value is a permanent configuration error naming the variable.
    """
    limit = _positive("PIXAUDIT_AWS_CONCURRENCY", os.environ.get("PIXAUDIT_AWS_CONCURRENCY"))
    limit = MAX_WORKERS if limit is None else limit
    if api is None:
        return limit
    for part in filter(None, os.environ.get("PIXAUDIT_AWS_API_CONCURRENCY", "").split(",")):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise CollectorError(
                f"PIXAUDIT_AWS_API_CONCURRENCY: expected service=threads, got {part!r}",
                permanent=True, kind=ErrorKind.CONFIGURATION,
            )  # fmt: skip
        if name.strip() == api:
            return min(limit, _positive("PIXAUDIT_AWS_API_CONCURRENCY", value) or limit)
    return limit


def _positive(variable: str, value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise CollectorError(
            f"{variable}: expected a whole number of threads of at least 1, got {value!r}",
            permanent=True, kind=ErrorKind.CONFIGURATION,
        )  # fmt: skip
    return number


def pmap(
    ctx: CollectionContext,
    func: Callable[[T], R],
    items: Sequence[T],
    *,
    max_workers: int | None = None,
    api: str | None = None,
) -> list[R]:
    """``[func(item) for item in items]`` on a bounded thread pool, results in input order.

    The pool has at most :func:`concurrency` threads (``api``, the boto3 service name the
    calls go to, applies its cap) and ``max_workers`` when given. Each item runs in a copy of
    the caller's context variables (the account's session cache reaches the threads). The
    time budget is checked before each item; the first exception propagates.
    """

    def run(item: T) -> R:
        ctx.check_budget()
        return func(item)

    if len(items) <= 1:
        return [run(item) for item in items]
    workers = concurrency(api)
    if max_workers is not None:
        workers = min(workers, max_workers)
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, run, item) for item in items]
        return [future.result() for future in futures]


def call(
    ctx: CollectionContext,
    client: Any,
    method: str,
    *,
    resource: str,
    assertions: Iterable[str],
    absent: Iterable[str] = (),
    **kwargs: Any,
) -> dict[str, Any] | None:
    """Make one per-resource call; on failure record the error and return ``None``.

    Error codes in ``absent`` mean "not configured" (e.g. ``NoSuchBucketPolicy``) and return
    ``{}``. Any other API error is recorded with ``ctx.error`` for ``resource`` and the
    ``assertions`` that needed the call, naming the IAM action
    (``"AccessDenied on s3:GetEncryptionConfiguration for arn:aws:s3:::x"``).
    """
    try:
        return getattr(client, method)(**kwargs)
    except botocore_errors() as exc:
        code = error_code(exc)
        if code in set(absent):
            return {}
        action = action_of(client, _operation(client, method))
        ctx.error(
            f"{code} on {action} for {resource}",
            action=action,
            resource=resource,
            assertions=tuple(assertions),
        )
        return None


def call_list(
    ctx: CollectionContext,
    client: Any,
    method: str,
    key: str,
    *,
    resource: str,
    assertions: Iterable[str],
    **kwargs: Any,
) -> list[Any] | None:
    """:func:`paginate` for one resource; on failure record the error (as :func:`call`)."""
    try:
        return paginate(client, method, key, **kwargs)
    except botocore_errors() as exc:
        action = action_of(client, _operation(client, method))
        ctx.error(
            f"{error_code(exc)} on {action} for {resource}",
            action=action,
            resource=resource,
            assertions=tuple(assertions),
        )
        return None


def collect_regional(
    ctx: CollectionContext,
    service: str,
    lister: Callable[[Any, str], list[T]],
    *,
    assertions: Iterable[str],
    region_resource: Callable[[str], str] | None = None,
) -> list[T]:
    """Run ``lister(client, region)`` in every region concurrently and concatenate the results.

    A region whose listing fails is recorded with ``ctx.error`` (for ``"*"``, naming the
    action and the regions); if every region fails, a :class:`CollectorError` is raised
    instead (permanent when access was denied), since there is no usable data. Collectors
    whose rows *are* the regions (a regional setting) pass ``region_resource(region)``, the
    region's resource name: its error is then recorded on that resource, so the region
    stays in the evidence (and in current state) as ERROR instead of disappearing.
    """
    assertions = tuple(assertions)
    names = regions(ctx, assertions=assertions)
    errors = botocore_errors()

    def one(region: str) -> tuple[list[T], tuple[str, BaseException, str] | None]:
        client = ctx.aws_client(service, region)
        try:
            return lister(client, region), None
        except errors as exc:
            operation = getattr(exc, "operation_name", None)
            action = action_of(client, operation) if operation else f"{service} endpoint"
            return [], (region, exc, action)

    results = pmap(ctx, one, names)
    failed = [failure for _, failure in results if failure is not None]
    if failed and len(failed) == len(names):
        _, exc, action = failed[0]
        where = "in " + ", ".join(region for region, _, _ in failed)
        raise to_collector_error(exc, action, where) from None
    if region_resource is not None:
        for region, exc, action in failed:
            ctx.error(
                f"{error_code(exc)} on {action} in {region}: the region's setting was not read",
                action=action,
                resource=region_resource(region),
                assertions=assertions,
            )
        failed = []
    by_problem: dict[tuple[str, str], list[str]] = {}
    for region, exc, action in failed:
        by_problem.setdefault((error_code(exc), action), []).append(region)
    for (code, action), where in sorted(by_problem.items()):
        ctx.error(
            f"{code} on {action} in {', '.join(where)}: resources there were not collected",
            action=action,
            assertions=assertions,
        )
    return [item for items, _ in results for item in items]


def days_since(ctx: CollectionContext, when: datetime | None) -> int | None:
    """Whole days from ``when`` to ``ctx.now()`` (``None`` when ``when`` is ``None``)."""
    if when is None:
        return None
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return max(0, (ctx.now() - when).days)


def tags_dict(tags: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` (any key case) as ``{k: v}``, sorted."""
    result: dict[str, str] = {}
    for tag in tags or ():
        key = tag.get("Key", tag.get("key"))
        if key is not None:
            result[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return dict(sorted(result.items()))
