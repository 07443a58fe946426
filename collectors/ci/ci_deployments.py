"""Deployments recorded by a CI pipeline: who changed what, who reviewed it, whether tests ran."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import Column, Severity, Status, assertion, register
from collectors.push import PushCollector


def _people(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v).strip().lower() for v in value if isinstance(v, str) and v.strip()]


@register
class CiDeploymentsCollector(PushCollector):
    """Deployments pushed by a CI pipeline (``POST /api/v1/push/ci_deployments/``).

    Pushed, never pulled: the deploy job posts one row per deployment with its change
    reference (pull request), its author, the people who approved the change and whether
    the test suite passed; pixaudit adds the token's identity and the pipeline's metadata
    (repository, commit, pipeline URL) to the provenance. No API is called, so no permission
    is needed. ``docs/api.md`` has a GitHub Actions step that posts it.

    The resource is ``deployment``, which the pipeline makes globally unique, by convention
    ``<owner>/<repo>@<environment>#<CI run id>``.

    Example row: ``acme/shop@production#4242``, change ``https://github.com/acme/shop/pull/7``
    by ``alice``, approved by ``bob``, tests passed; it passes both assertions.
    """

    key = "ci_deployments"
    title = "Deployments pushed by CI (change review and tests)"
    version = 1
    permissions = ()
    columns = (
        Column("deployment", "string", "Unique deployment name: <owner>/<repo>@<env>#<run id>."),
        Column("repository", "string", "Repository deployed, as <owner>/<name>."),
        Column("environment", "string", "Target environment (e.g. production)."),
        Column("commit", "string", "Commit SHA deployed."),
        Column("change_ref", "string", "The reviewed change: pull request URL or number."),
        Column("author", "string", "Login of the change's author."),
        Column("reviewers", "json", "Logins of the people who approved the change (a list)."),
        Column("tests_passed", "boolean", "Whether the required test suite passed."),
        Column("deployed_at", "datetime", "When the deployment happened (UTC)."),
        Column("pipeline_url", "string", "Link to the CI run that deployed."),
    )
    required_columns = ("deployment", "repository", "commit", "deployed_at")
    resource_column = "deployment"
    max_age = timedelta(days=30)

    @assertion(
        "ci_deployments.independent_review",
        title="Each deployed change was approved by someone other than its author",
        severity=Severity.HIGH,
        remediation=(
            "Require an approving review from another person before merge (branch protection "
            "or a ruleset), and report the approvers in the deploy step."
        ),
        controls=("soc2-2017:CC8.1", "iso27001-2022:A.8.32"),
        rationale=(
            "Changes are authorized and approved before they reach production (CC8.1); "
            "changes follow a change management procedure (A.8.32)."
        ),
    )
    def independent_review(row: dict[str, Any], params: dict[str, Any]):
        """At least one reviewer who is not the author (logins compared case-insensitively)."""
        if row["author"] is None or row["reviewers"] is None:
            return Status.ERROR, "The push did not say who wrote or who approved the change."
        author = str(row["author"]).strip().lower()
        others = sorted({r for r in _people(row["reviewers"]) if r != author})
        if others:
            return Status.PASS, f"Approved by {', '.join(others)} (author {row['author']})."
        return Status.FAIL, f"No approval by anyone other than the author {row['author']}."

    @assertion(
        "ci_deployments.tests_passed",
        title="The test suite passed before each deployment",
        severity=Severity.MEDIUM,
        remediation="Make the deploy job depend on the test job; never deploy on red.",
        controls=("soc2-2017:CC8.1", "iso27001-2022:A.8.29"),
        rationale=(
            "Changes are tested before implementation (CC8.1); security testing is part of "
            "development and acceptance (A.8.29)."
        ),
    )
    def tests_passed(row: dict[str, Any], params: dict[str, Any]):
        """``tests_passed`` must be true; unknown is an ERROR, never a pass."""
        if row["tests_passed"] is None:
            return Status.ERROR, "The push did not say whether the tests passed."
        if row["tests_passed"]:
            return Status.PASS, "The test suite passed."
        return Status.FAIL, "Deployed although the test suite did not pass."
