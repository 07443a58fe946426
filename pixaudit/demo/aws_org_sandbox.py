"""An AWS Organization in moto, for the organisation tests and ``benchmarks/bench_aws_org.py``.

Django-free. :func:`seed_organisation` creates, in the management account moto answers for
(``123456789012`` with the sandbox credentials), an organisation with two OUs (``prod``,
``sandbox``), ``accounts`` member accounts spread over them, pixaudit's read-only role in
each member (trusting the management account, with an external id) and a few resources
per member (an S3 bucket, an IAM user, an EBS volume). Chosen members can lack the role,
be suspended, or carry a tag.

moto lets anyone assume any role, even one that does not exist, and ignores external
ids. :func:`enforce_assume_role` makes it behave as AWS does for the cases the tests need:
``AccessDenied`` for a role missing from its account, or an external id its trust policy
does not name. It patches moto in this process (which is where a ``ThreadedMotoServer``
answers too) and returns the undo function. :func:`deny_region` does the same for a
region an account may not use (what a service control policy denying the region, or an
opt-in region left disabled, gives): every call of that account there is ``AccessDenied``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MANAGEMENT_ACCOUNT",
    "OrgSandbox",
    "deny_region",
    "enforce_assume_role",
    "seed_organisation",
]

MANAGEMENT_ACCOUNT = "123456789012"
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class OrgSandbox:
    """What :func:`seed_organisation` made: ids to assert on."""

    management: str
    root: str
    ous: dict[str, str]
    members: list[str] = field(default_factory=list)
    by_ou: dict[str, list[str]] = field(default_factory=dict)
    suspended: list[str] = field(default_factory=list)
    without_role: list[str] = field(default_factory=list)


def _session(creds: dict[str, str] | None = None, region: str = "us-east-1") -> Any:
    import boto3.session

    from collectors.context import _botocore_session  # one parse of the service models

    if creds is None:
        return boto3.session.Session(
            botocore_session=_botocore_session(), region_name=region, **_CREDENTIALS
        )
    return boto3.session.Session(
        botocore_session=_botocore_session(),
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _trust(external_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                }
            ],
        }
    )


def seed_organisation(
    endpoint_url: str | None = None,
    *,
    accounts: int = 4,
    role_name: str = "pixaudit-readonly",
    external_id: str = "pixaudit-external-id",
    without_role: Iterable[int] = (),
    suspended: Iterable[int] = (),
    tags: dict[int, dict[str, str]] | None = None,
    resources: bool = True,
) -> OrgSandbox:
    """Create the organisation (see the module doc); member ``i`` is the i-th created (0-based).

    Even members go to the ``prod`` OU, odd ones to ``sandbox``. Call it before
    :func:`enforce_assume_role` (seeding assumes a role moto never created).
    """
    kw = {"endpoint_url": endpoint_url} if endpoint_url else {}
    org = _session().client("organizations", **kw)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {
        name: org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        for name in ("prod", "sandbox")
    }
    box = OrgSandbox(management=MANAGEMENT_ACCOUNT, root=root, ous=ous)
    box.by_ou = {name: [] for name in ous}
    no_role, closed, tags = set(without_role), set(suspended), tags or {}
    sts = _session().client("sts", **kw)
    for i in range(accounts):
        status = org.create_account(AccountName=f"member-{i:03d}", Email=f"m{i}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        box.members.append(account)
        ou = "prod" if i % 2 == 0 else "sandbox"
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[ou])
        box.by_ou[ou].append(account)
        if i in tags:
            org.tag_resource(
                ResourceId=account, Tags=[{"Key": k, "Value": v} for k, v in tags[i].items()]
            )
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
            RoleSessionName="seed",
        )["Credentials"]
        member = _session(creds)
        if i in no_role:
            box.without_role.append(account)
        else:
            member.client("iam", **kw).create_role(
                RoleName=role_name, AssumeRolePolicyDocument=_trust(external_id)
            )
        if resources:
            _seed_member(member, kw, account)
        if i in closed:
            org.close_account(AccountId=account)
            box.suspended.append(account)
    return box


def _seed_member(member: Any, kw: dict[str, Any], account: str) -> None:
    member.client("s3", **kw).create_bucket(Bucket=f"evidence-{account}")
    member.client("iam", **kw).create_user(UserName=f"deploy-{account[-4:]}")
    member.client("ec2", **kw).create_volume(AvailabilityZone="us-east-1a", Size=8)


def enforce_assume_role() -> Callable[[], None]:
    """Make moto's ``sts:AssumeRole`` refuse what AWS refuses (see the module doc)."""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role_arn = kwargs.get("role_arn") or args[2]
        external_id = kwargs.get("external_id") if "external_id" in kwargs else args[5]
        parts = role_arn.split(":")
        account, partition, name = parts[4], parts[1], role_arn.rsplit("/", 1)[-1]
        backend = iam_backends[account][partition]
        role = next((r for r in backend.roles.values() if r.name == name), None)
        denied = f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        if role is None:
            raise STSClientError("AccessDenied", denied)
        trust = json.loads(role.assume_role_policy_document)
        wanted = {
            str(v)
            for statement in trust.get("Statement", [])
            for v in _listify(
                statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
            )
        }
        if wanted and external_id not in wanted:
            raise STSClientError("AccessDenied", denied)
        return original(self, *args, **kwargs)

    STSBackend.assume_role = assume_role  # type: ignore[method-assign]

    def undo() -> None:
        STSBackend.assume_role = original  # type: ignore[method-assign]

    return undo


def deny_region(account: str, region: str) -> Callable[[], None]:
    """Make moto answer every call of ``account`` in ``region`` with ``AccessDenied`` (as
    an SCP denying the region does); returns the undo function."""
    from moto.core.exceptions import AccessDeniedError
    from moto.core.responses import BaseResponse

    original = BaseResponse._authenticate_and_authorize_normal_action

    def check(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.region == region and self.current_account == account:
            raise AccessDeniedError(
                user_arn=f"arn:aws:sts::{account}:assumed-role/pixaudit",
                action=f"{self.region} is denied by a service control policy",
            )
        return original(self, *args, **kwargs)

    BaseResponse._authenticate_and_authorize_normal_action = check  # type: ignore[method-assign]

    def undo() -> None:
        BaseResponse._authenticate_and_authorize_normal_action = original  # type: ignore[method-assign]

    return undo


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
