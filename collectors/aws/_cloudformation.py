"""CloudFormation templates that create pixaudit's read-only role in an AWS account.

:func:`role_template` is a stack for one account: an IAM role that the account (or role)
pixaudit runs as may assume with an external id, holding one inline policy with exactly the
``permissions`` the enabled collectors declare (``_policy.iam_policy``, so the template and
``collectors --iam-policy aws`` never disagree). :func:`stackset_template` is the
organisation variant, deployed once in the management account: a service-managed StackSet
that creates the same role in every account of the given OUs, and in accounts added to them
later (automatic deployment). StackSets do not deploy to the management account itself;
deploy :func:`role_template` there too when it should be collected.

Templates are JSON (CloudFormation accepts JSON and YAML), built as dicts with sorted keys,
so the same collectors always give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from collectors.aws._org import ORG_PERMISSIONS
from collectors.aws._policy import iam_policy
from collectors.base import Collector

__all__ = ["DEFAULT_ROLE_NAME", "role_template", "stackset_template", "template_json"]

DEFAULT_ROLE_NAME = "pixaudit-readonly"


def _parameters(role_name: str) -> dict[str, Any]:
    return {
        "TrustedPrincipalArn": {
            "Type": "String",
            "Description": "ARN of the account root, user or role pixaudit runs as, e.g. "
            "arn:aws:iam::111122223333:root.",
        },
        "ExternalId": {
            "Type": "String",
            "NoEcho": True,
            "MinLength": 2,
            "Description": "The external id shown on the integration page.",
        },
        "RoleName": {
            "Type": "String",
            "Default": role_name,
            "Description": "Name of the read-only role (the integration's role name).",
        },
    }


def _role_resource(collectors: Iterable[type[Collector]], *, org_lister: bool) -> dict[str, Any]:
    policy = iam_policy(collectors)
    if org_lister:
        extra = {
            "Sid": "PixauditOrganizations",
            "Effect": "Allow",
            "Action": sorted(a for a in ORG_PERMISSIONS if a.startswith("organizations:")),
            "Resource": "*",
        }
        policy = {**policy, "Statement": [*policy["Statement"], extra]}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": {"Ref": "RoleName"},
            "Description": "Read-only role pixaudit collects compliance evidence with.",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Ref": "TrustedPrincipalArn"}},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                    }
                ],
            },
            "Policies": [{"PolicyName": "pixaudit-collectors", "PolicyDocument": policy}],
        },
    }


def role_template(
    collectors: Iterable[type[Collector]],
    *,
    role_name: str = DEFAULT_ROLE_NAME,
    org_lister: bool = False,
) -> dict[str, Any]:
    """The stack for one account. ``org_lister`` adds the Organizations read actions (for
    the management account when it lists the members through this role)."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "pixaudit read-only role for the enabled AWS collectors.",
        "Parameters": _parameters(role_name),
        "Resources": {"PixauditRole": _role_resource(list(collectors), org_lister=org_lister)},
        "Outputs": {
            "RoleArn": {
                "Description": "Give this to pixaudit.",
                "Value": {"Fn::GetAtt": ["PixauditRole", "Arn"]},
            },
        },  # fmt: skip
    }


def stackset_template(
    collectors: Iterable[type[Collector]], *, role_name: str = DEFAULT_ROLE_NAME
) -> dict[str, Any]:
    """The management account's stack: a service-managed StackSet creating the role in
    every account of ``OrganizationalUnitIds`` (and in accounts that join them later)."""
    member = role_template(collectors, role_name=role_name)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "pixaudit read-only role in every account of the given OUs (StackSet).",
        "Parameters": {
            **_parameters(role_name),
            "OrganizationalUnitIds": {
                "Type": "CommaDelimitedList",
                "Description": "OU ids (or the root id r-...) to deploy the role to.",
            },
            "Regions": {
                "Type": "CommaDelimitedList",
                "Default": "us-east-1",
                "Description": "One region is enough: IAM roles are global.",
            },
        },
        "Resources": {
            "PixauditRoleStackSet": {
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": "pixaudit-readonly-role",
                    "PermissionModel": "SERVICE_MANAGED",
                    "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
                    "Capabilities": ["CAPABILITY_NAMED_IAM"],
                    "Parameters": [
                        {"ParameterKey": key, "ParameterValue": {"Ref": key}}
                        for key in ("ExternalId", "RoleName", "TrustedPrincipalArn")
                    ],
                    "StackInstancesGroup": [
                        {
                            "DeploymentTargets": {
                                "OrganizationalUnitIds": {"Ref": "OrganizationalUnitIds"}
                            },
                            "Regions": {"Ref": "Regions"},
                        }
                    ],
                    "TemplateBody": template_json(member),
                },
            }
        },
    }


def template_json(template: dict[str, Any]) -> str:
    """The template as deterministic, indented JSON."""
    return json.dumps(template, indent=2, sort_keys=True) + "\n"


def template_policy(template: dict[str, Any]) -> dict[str, Any]:
    """The inline policy document of a :func:`role_template` (for checks and display)."""
    return template["Resources"]["PixauditRole"]["Properties"]["Policies"][0]["PolicyDocument"]
