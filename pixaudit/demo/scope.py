"""The demo organisation's report scope and control narratives (``manage.py demo``).

A SOC 2 report an auditor signs off on states its scope (system description, boundaries,
Trust Services categories, subservice organisations, complementary user entity controls,
management assertion) and how the organisation performs each control. The demo writes a
plausible version of both through the same services the scope and narrative pages use (so
they are versioned and audit-logged), once: a second ``manage.py demo`` leaves what is there.
"""

from __future__ import annotations

from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.controls.models import Control, Framework
from pixaudit.reports.selectors_scope import control_narratives, scope_statement_current
from pixaudit.reports.services_scope import control_narrative_save, scope_statement_save

__all__ = ["DEMO_NARRATIVES", "DEMO_SCOPE", "demo_scope_ensure"]

DEMO_SCOPE = {
    "system_description": (
        "Acme Cloud Photo is a multi-tenant SaaS that stores and shares customers' photo "
        "libraries. It runs in one AWS account (us-east-1, eu-west-1) behind an HTTPS API and "
        "a web application; customer images are kept in encrypted S3 buckets and metadata in "
        "an encrypted PostgreSQL (RDS) database."
    ),
    "boundaries": (
        "In scope: the production AWS account, the public API and web application, the "
        "CI/CD pipeline that deploys them, and the people and processes that operate them. "
        "Out of scope: the marketing website and the corporate IT network."
    ),
    "availability": True,
    "confidentiality": True,
    "processing_integrity": False,
    "privacy": False,
    "subservice_organisations": (
        "Amazon Web Services (infrastructure hosting; carved-out method).\n"
        "Okta (workforce identity provider; carved-out method)."
    ),
    "complementary_user_entity_controls": (
        "Customers manage the accounts of their own users and remove them when they leave.\n"
        "Customers keep their API keys secret and rotate them when exposed."
    ),
    "management_assertion": (
        "We have prepared the accompanying description of Acme Cloud Photo and assert that "
        "the controls stated in it were suitably designed and operated effectively "
        "throughout the period to meet the applicable trust services criteria."
    ),
    "signatory_name": "Dana Reyes",
    "signatory_title": "Chief Technology Officer",
}

#: control ref -> how the demo organisation performs it.
DEMO_NARRATIVES = {
    "CC6.1": (
        "Access to production is through the AWS IAM Identity Center with MFA enforced by "
        "Okta. Data stores are encrypted at rest with AWS KMS keys rotated yearly; pixaudit "
        "checks encryption and MFA daily."
    ),
    "CC6.2": (
        "New accounts are created from an approved ticket by the platform team; the ticket "
        "names the role. Accounts unused for 90 days are disabled."
    ),
    "CC6.3": (
        "Access is reviewed every quarter in pixaudit's access review campaigns; each "
        "reviewer confirms or revokes every account, and revocations are done within 5 days."
    ),
    "CC7.1": (
        "Configuration of the AWS account is collected daily (S3, IAM, RDS, KMS, load "
        "balancers); deviations from the baseline open remediation tasks for the owner."
    ),
    "CC8.1": (
        "Every change reaches production through a pull request reviewed by a second engineer "
        "and a passing CI pipeline; emergency changes are reviewed within one business day."
    ),
}


def demo_scope_ensure(*, framework: Framework, actor: User) -> tuple[bool, int]:
    """Write the demo scope statement and narratives where none exist yet.

    Returns (scope written, narratives written)."""
    wrote_scope = False
    if scope_statement_current(framework=framework) is None:
        scope_statement_save(
            framework=framework, actor=actor, assertion_date=timezone.now().date(), **DEMO_SCOPE
        )
        wrote_scope = True
    controls = list(Control.objects.filter(framework=framework, ref__in=list(DEMO_NARRATIVES)))
    existing = control_narratives(controls=controls)
    written = 0
    for control in controls:
        if control.pk not in existing:
            control_narrative_save(control=control, text=DEMO_NARRATIVES[control.ref], actor=actor)
            written += 1
    return wrote_scope, written
