"""S3 buckets: default encryption, TLS-only bucket policy, versioning and retention rules."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Param,
    Severity,
    Status,
    assertion,
    register,
)
from collectors.aws import _common as aws
from collectors.aws._controls import (
    BACKUP,
    ENCRYPTION_AT_REST,
    ENCRYPTION_IN_TRANSIT,
    RETENTION,
)

ENCRYPTION = "aws_s3_buckets.default_encryption"
TRANSPORT = "aws_s3_buckets.secure_transport"
VERSIONING = "aws_s3_buckets.versioning_enabled"
LIFECYCLE = "aws_s3_buckets.lifecycle_expiration"

#: Per-bucket calls: (method, response key, codes meaning "not configured", assertions).
_DETAILS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "get_bucket_encryption",
        "encryption",
        ("ServerSideEncryptionConfigurationNotFoundError",),
        (ENCRYPTION,),
    ),
    ("get_bucket_policy", "policy", ("NoSuchBucketPolicy",), (TRANSPORT,)),
    ("get_bucket_versioning", "versioning", (), (VERSIONING, LIFECYCLE)),
    ("get_bucket_lifecycle_configuration", "lifecycle", ("NoSuchLifecycleConfiguration",),
     (LIFECYCLE,)),
    ("get_bucket_tagging", "tagging", ("NoSuchTagSet",), (LIFECYCLE,)),
)  # fmt: skip
_KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


@register
class S3BucketsCollector(Collector):
    """Every S3 bucket of the account with its encryption, policy, versioning and lifecycle.

    Collected: ``s3:ListAllMyBuckets`` (paginated), then per bucket, concurrently and in the
    bucket's own region: ``GetBucketLocation`` (only when the listing does not give the
    region), ``GetEncryptionConfiguration``, ``GetBucketPolicy``, ``GetBucketVersioning``,
    ``GetLifecycleConfiguration`` and ``GetBucketTagging``. Values are stored as S3 returns
    them (the bucket policy parsed from its JSON); the assertions interpret them. A denied
    call yields ERROR findings for the assertions that needed it, on that bucket only. With
    the ``regions`` param set, only buckets in those regions are reported; a bucket whose
    region cannot be read (``s3:GetBucketLocation`` denied) is reported anyway, with a
    null region and ERROR findings, since whether it is in scope is unknown.

    Findings name a bucket by ``resource``: its ARN with the owning account filled into the
    account field (``arn:aws:s3::123456789012:acme-uploads``), because S3 bucket ARNs carry
    no account and every other AWS resource name here does; ``arn`` keeps the real ARN.

    Example row: ``arn:aws:s3:::acme-uploads`` in ``eu-west-1``, encryption rules
    ``[{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", ...}}]``, a policy
    denying ``aws:SecureTransport = false``, versioning ``Enabled``, one lifecycle rule
    expiring objects after 7 days, tags ``{"data": "images"}``.
    """

    key = "aws_s3_buckets"
    title = "AWS S3 buckets"
    version = 2
    params = aws.AWS_PARAMS
    permissions = (
        *aws.BASE_PERMISSIONS,
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketPolicy",
        "s3:GetBucketVersioning",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketTagging",
    )
    columns = (
        Column("arn", "string", "Bucket ARN, e.g. arn:aws:s3:::acme-uploads."),
        Column(
            "resource",
            "string",
            "Resource name of findings: the ARN with the account, arn:aws:s3::<account>:<name>.",
        ),
        Column("name", "string", "Bucket name."),
        Column("account_id", "string", "Account that owns the bucket."),
        Column("region", "string", "Region the bucket lives in."),
        Column("created_at", "datetime", "Bucket creation date (UTC)."),
        Column("encryption_rules", "json", "Default encryption rules (null: none configured)."),
        Column("policy", "json", "Bucket policy document (null: no bucket policy)."),
        Column("versioning_status", "string", "Enabled, Suspended, or null if never enabled."),
        Column("mfa_delete", "string", "MFA delete status (Enabled, Disabled or null)."),
        Column("lifecycle_rules", "json", "Lifecycle rules (null: no lifecycle configuration)."),
        Column("tags", "json", "Bucket tags as an object (null: not read)."),
    )
    resource_column = "resource"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """List the buckets, then describe each one concurrently; rows sorted by ARN."""
        account, partition = aws.caller(ctx)
        home = aws.home_region(ctx)
        client = ctx.aws_client("s3", home)
        buckets = aws.list_all(client, "list_buckets", "Buckets")
        wanted = set(ctx.params.get("regions") or ())
        located = aws.pmap(
            ctx,
            lambda b: (
                (b.get("BucketRegion"), None)
                if b.get("BucketRegion")
                else self._location(ctx, client, b["Name"])
            ),
            buckets,
            api="s3",
        )
        selected, unplaced = [], []
        for bucket, (region, problem) in zip(buckets, located, strict=True):
            if wanted and region is None:
                unplaced.append((bucket, problem))
            elif not wanted or region in wanted:
                selected.append((bucket, region))
        # boto3 sessions are not thread-safe: make the regional clients before fanning out
        clients = {
            r: ctx.aws_client("s3", r or home) for r in sorted({r or "" for _, r in selected})
        }

        def describe(item: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
            bucket, region = item
            name = bucket["Name"]
            arn = f"arn:{partition}:s3:::{name}"
            resource = bucket_resource(partition, account, name)
            found: dict[str, Any] = {}
            for method, label, absent, needed_by in _DETAILS:
                found[label] = aws.call(
                    ctx, clients[region or ""], method, resource=resource, assertions=needed_by,
                    absent=absent, Bucket=name,
                )  # fmt: skip
            row = _row(arn, name, account, region, bucket.get("CreationDate"), found)
            return {**row, "resource": resource}

        rows = aws.pmap(ctx, describe, selected, api="s3")
        rows += [self._unplaced(ctx, bucket, problem, account, partition, wanted)
                 for bucket, problem in unplaced]  # fmt: skip
        return sorted(rows, key=lambda row: row["arn"])

    @staticmethod
    def _location(ctx: CollectionContext, client: Any, name: str) -> tuple[str | None, str | None]:
        """``(region, None)``, or ``(None, error code)`` when the bucket cannot be located."""
        try:
            response = client.get_bucket_location(Bucket=name)
        except aws.botocore_errors() as exc:
            # Not fatal without a regions filter: S3 redirects calls to the bucket's region
            # and the column stays null. With a filter, see _unplaced.
            ctx.logger.warning("cannot locate bucket %s: %s", name, aws.error_code(exc))
            return None, aws.error_code(exc)
        location = response.get("LocationConstraint") or "us-east-1"
        # "EU" is the legacy name of eu-west-1
        return ("eu-west-1" if location == "EU" else location), None

    @staticmethod
    def _unplaced(
        ctx: CollectionContext,
        bucket: dict[str, Any],
        problem: str | None,
        account: str,
        partition: str,
        wanted: set[str],
    ) -> dict[str, Any]:
        """A bucket the ``regions`` filter cannot be applied to: a row, and ERROR findings.

        Whether it is in scope is unknown, so it is neither dropped nor described: it is
        reported with a null region and an error for every assertion.
        """
        name = bucket["Name"]
        arn = f"arn:{partition}:s3:::{name}"
        resource = bucket_resource(partition, account, name)
        ctx.error(
            f"{problem or 'no region'} on s3:GetBucketLocation for {arn}: the bucket could not "
            f"be placed in a region, so whether it is in {', '.join(sorted(wanted))} is "
            "unknown (grant s3:GetBucketLocation)",
            action="s3:GetBucketLocation",
            resource=resource,
        )
        empty = {label: None for _, label, _, _ in _DETAILS}
        row = _row(arn, name, account, None, bucket.get("CreationDate"), empty)
        return {**row, "resource": resource}

    @assertion(
        ENCRYPTION,
        title="S3 buckets encrypt new objects by default (SSE-S3 or SSE-KMS)",
        severity=Severity.HIGH,
        remediation="Set default encryption on the bucket: `aws s3api put-bucket-encryption "
        '--bucket NAME --server-side-encryption-configuration \'{"Rules": '
        '[{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, '
        '"BucketKeyEnabled": true}]}\'` (or AES256 for SSE-S3).',
        params=(
            Param(
                "require_kms",
                "boolean",
                default=False,
                help="Require SSE-KMS (aws:kms or aws:kms:dsse); SSE-S3 (AES256) then fails.",
            ),
        ),
        **ENCRYPTION_AT_REST,
    )
    def default_encryption(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when a default encryption rule names AES256 (SSE-S3) or aws:kms[:dsse]."""
        algorithms = sorted(
            {
                (rule.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
                for rule in row["encryption_rules"] or []
            }
            - {None}
        )
        name = row["name"]
        if not algorithms:
            return Outcome(Status.FAIL, f"Bucket {name} has no default encryption.")
        if params["require_kms"] and not _KMS_ALGORITHMS & set(algorithms):
            return Outcome(
                Status.FAIL, f"Bucket {name} uses {', '.join(algorithms)}; SSE-KMS is required."
            )
        return Outcome(Status.PASS, f"Bucket {name} encrypts by default with {algorithms[0]}.")

    @assertion(
        TRANSPORT,
        title="S3 bucket policies deny requests that do not use TLS",
        severity=Severity.MEDIUM,
        remediation='Add a bucket policy statement with Effect Deny, Principal "*", Action '
        '"s3:*", Resource the bucket and "bucket/*", and Condition {"Bool": '
        '{"aws:SecureTransport": "false"}}.',
        **ENCRYPTION_IN_TRANSIT,
    )
    def secure_transport(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when a statement denies every action, to everyone, on every object of the
        bucket, with no condition other than ``aws:SecureTransport`` false (Bool or
        BoolIfExists). A deny limited to a prefix, or narrowed by a further condition (e.g.
        ``aws:SourceVpce``), lets some plain-HTTP requests through and does not count."""
        name = row["name"]
        if not row["policy"]:
            return Outcome(Status.FAIL, f"Bucket {name} has no bucket policy requiring TLS.")
        if any(_denies_plain_http(s, row["arn"]) for s in _statements(row["policy"])):
            return Outcome(Status.PASS, f"Bucket {name} denies requests without TLS.")
        return Outcome(Status.FAIL, f"The policy of bucket {name} does not deny non-TLS requests.")

    @assertion(
        VERSIONING,
        title="S3 buckets keep object versions",
        severity=Severity.MEDIUM,
        remediation="Enable versioning: `aws s3api put-bucket-versioning --bucket NAME "
        "--versioning-configuration Status=Enabled`, and expire noncurrent versions with a "
        "lifecycle rule to bound storage.",
        **BACKUP,
    )
    def versioning_enabled(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when versioning is Enabled (Suspended or never enabled fails)."""
        status = row["versioning_status"]
        if status == "Enabled":
            return Outcome(Status.PASS, f"Bucket {row['name']} has versioning enabled.")
        state = "suspended" if status == "Suspended" else "never enabled"
        return Outcome(Status.FAIL, f"Bucket {row['name']} versioning is {state}.")

    @assertion(
        LIFECYCLE,
        title="S3 buckets holding short-lived data expire objects within the retention period",
        severity=Severity.HIGH,
        remediation="Add an enabled lifecycle rule for the whole bucket with Expiration Days "
        "<= max_days (and NoncurrentVersionExpiration NoncurrentDays <= max_days when the "
        "bucket is versioned, otherwise deleted objects survive as noncurrent versions).",
        params=(
            Param("max_days", "integer", default=7, help="Longest allowed retention in days."),
            Param("tag_key", "string", help="Select buckets carrying this tag key."),
            Param("tag_value", "string", help="With tag_key: only buckets with this value."),
            Param(
                "name_pattern",
                "string",
                help="Select buckets whose name matches this glob, e.g. *-uploads-*.",
            ),
        ),
        per="table",
        **RETENTION,
    )
    def lifecycle_expiration(
        rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> Iterator[Outcome]:
        """Selected buckets need a whole-bucket expiration rule of at most ``max_days``.

        Buckets are selected by tag (``tag_key``, optionally ``tag_value``) or by name glob
        (``name_pattern``). Versioned buckets also need noncurrent versions expired within
        ``max_days``. A rule limited by a prefix or tag filter covers part of the bucket
        only: WARN. Without a selector, or when nothing is selected, one WARN on ``*``; an
        ERROR on ``*`` instead when nothing is known to be selected but some bucket's tags
        could not be read (each such bucket has its own ERROR too).
        """
        if not (params["tag_key"] or params["name_pattern"]):
            yield Outcome(
                Status.WARN,
                "No buckets are selected: set tag_key or name_pattern to the buckets whose "
                "objects must be deleted after max_days.",
                "*",
            )
            return
        selected = [row for row in rows if _selected(row, params)]
        undecided = [
            row["name"]
            for row in rows
            if row not in selected and row["tags"] is None and params["tag_key"]
        ]
        if not selected and undecided:
            yield Outcome(
                Status.ERROR,
                "No bucket is known to match the retention selector; the tags of "
                f"{', '.join(undecided)} could not be read.",
                "*",
            )
        elif not selected:
            yield Outcome(Status.WARN, "No bucket matches the retention selector.", "*")
        for row in selected:
            yield _lifecycle_outcome(row, params["max_days"])


def bucket_resource(partition: str, account: str, name: str) -> str:
    """The resource name of a bucket: its ARN with the owning account in the account field
    (``arn:aws:s3::123456789012:acme-uploads``), so two accounts' names never collide."""
    return f"arn:{partition}:s3::{account}:{name}"


def _row(
    arn: str,
    name: str,
    account: str,
    region: str | None,
    created: Any,
    found: dict[str, Any],
) -> dict[str, Any]:
    encryption = found["encryption"] or {}
    policy_text = (found["policy"] or {}).get("Policy")
    versioning = found["versioning"] or {}
    lifecycle = found["lifecycle"]
    return {
        "arn": arn,
        "name": name,
        "account_id": account,
        "region": region,
        "created_at": created,
        "encryption_rules": (encryption.get("ServerSideEncryptionConfiguration") or {}).get(
            "Rules"
        ),
        "policy": _parse_policy(policy_text, arn),
        "versioning_status": versioning.get("Status"),
        "mfa_delete": versioning.get("MFADelete"),
        "lifecycle_rules": lifecycle.get("Rules") if lifecycle else None,
        "tags": None if found["tagging"] is None else aws.tags_dict(found["tagging"].get("TagSet")),
    }


def _parse_policy(text: str | None, arn: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise CollectorError(f"bucket policy of {arn} is not valid JSON", permanent=True) from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]


def _covers_all_objects(pattern: Any, arn: str) -> bool:
    """Whether the IAM resource pattern matches every object key of the bucket ``arn``."""
    pattern = str(pattern)
    if not pattern.endswith("*"):
        return False
    head, target = pattern[:-1], f"{arn}/"
    # ``head*`` matches "<arn>/<any key>" iff ``head`` matches some prefix of "<arn>/".
    return any(fnmatch.fnmatchcase(target[:i], head) for i in range(len(target) + 1))


def _denies_plain_http(statement: dict[str, Any], arn: str) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal != "*" and not (
        isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))
    ):
        return False
    if not {"*", "s3:*"} & {str(a).lower() for a in _as_list(statement.get("Action"))}:
        return False
    if not any(_covers_all_objects(r, arn) for r in _as_list(statement.get("Resource"))):
        return False
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    denies_without_tls = False
    for operator, clause in condition.items():
        if str(operator).lower() not in ("bool", "boolifexists") or not isinstance(clause, dict):
            return False  # a further condition narrows the deny
        for key, value in clause.items():
            if str(key).lower() != "aws:securetransport":
                return False
            if any(str(v).lower() == "false" for v in _as_list(value)):
                denies_without_tls = True
    return denies_without_tls


def _selected(row: dict[str, Any], params: dict[str, Any]) -> bool:
    tags = row["tags"] or {}
    key, value, pattern = params["tag_key"], params["tag_value"], params["name_pattern"]
    if key and key in tags and (not value or tags[key] == value):
        return True
    return bool(pattern) and fnmatch.fnmatchcase(row["name"], pattern)


def _whole_bucket(rule: dict[str, Any]) -> bool:
    if rule.get("Prefix"):
        return False
    rule_filter = rule.get("Filter") or {}
    return not any(rule_filter.get(k) for k in ("Prefix", "Tag", "And"))


def _lifecycle_outcome(row: dict[str, Any], max_days: int) -> Outcome:
    name, arn = row["name"], row["resource"]
    enabled = [r for r in row["lifecycle_rules"] or [] if r.get("Status") == "Enabled"]

    def within(rule: dict[str, Any], field: str, days_key: str) -> bool:
        days = (rule.get(field) or {}).get(days_key)
        return isinstance(days, int) and days <= max_days

    current = [r for r in enabled if within(r, "Expiration", "Days")]
    if not current:
        message = f"Bucket {name} has no enabled rule expiring objects within {max_days} days."
        return Outcome(Status.FAIL, message, arn)
    if not any(_whole_bucket(r) for r in current):
        message = (
            f"Bucket {name} expires objects within {max_days} days only under a prefix or "
            "tag filter; other objects are kept."
        )
        return Outcome(Status.WARN, message, arn)
    versioned = row["versioning_status"] in ("Enabled", "Suspended")
    if versioned and not any(
        _whole_bucket(r) and within(r, "NoncurrentVersionExpiration", "NoncurrentDays")
        for r in enabled
    ):
        message = (
            f"Bucket {name} is versioned but keeps noncurrent (deleted or overwritten) "
            f"versions longer than {max_days} days."
        )
        return Outcome(Status.FAIL, message, arn)
    return Outcome(Status.PASS, f"Bucket {name} expires objects within {max_days} days.", arn)
