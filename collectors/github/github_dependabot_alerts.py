"""GitHub Dependabot alerts: open vulnerable dependencies and their remediation deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import requests

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    ErrorKind,
    Outcome,
    Param,
    Severity,
    assertion,
    register,
)
from collectors._http import HTTPSession, check_response
from collectors.github._api import GITHUB_PARAMS, GitHubAPI, error_message
from collectors.vulnerabilities import (
    DEADLINE_PARAMS,
    VULNERABILITY_CONTROLS,
    VULNERABILITY_RATIONALE,
    judge_open,
    normalise_severity,
)

_KEY = "github_dependabot_alerts"
WITHIN_DEADLINE = f"{_KEY}.remediated_within_deadline"
_ORG_OPERATION = "dependabot/list-alerts-for-org"
_REPO_OPERATION = "dependabot/list-alerts-for-repo"
_PER_PAGE = "100"
_MAX_PAGES = 10_000


@register
class GithubDependabotAlertsCollector(Collector):
    """Every open Dependabot alert of the organisation, one row per alert.

    Calls (GitHub REST, API version 2022-11-28): ``GET /user``; then ``GET
    /orgs/{org}/dependabot/alerts?state=open&per_page=100``, following the ``Link`` header's
    ``rel="next"`` (GitHub pages this endpoint with an ``after`` cursor). When the
    organisation endpoint is refused (403 or 404: the token is not an owner or security
    manager, or GitHub Enterprise Server before 3.8), or when ``repositories`` names the
    repositories to read, it falls back to ``GET /orgs/{org}/repos`` (unless named) and
    ``GET /repos/{owner}/{repo}/dependabot/alerts?state=open&per_page=100`` per repository;
    a repository whose alerts cannot be read (Dependabot alerts disabled, no access) is an
    ERROR for ``owner/name`` and the others go on. A bad token (401) fails the run.

    Rate limits: a response whose ``X-RateLimit-Remaining`` is 0 makes the next page wait
    until ``X-RateLimit-Reset`` (the primary limit), and 403/429 answers with
    ``Retry-After`` (the secondary limits) or with the primary limit exhausted are retried
    after the wait GitHub asks for, never past the run's time budget (then the run fails
    as rate limited, and is retried).

    Each alert keeps its severity (``security_vulnerability.severity``, else the advisory's),
    ``created_at`` as the first time it was seen, the package, manifest and the first
    patched version. An alert that is not open (``fixed_at``, ``dismissed_at`` or
    ``auto_dismissed_at`` set, or another state) is not a row: it has been dealt with. The
    assertion judges every open alert against the remediation deadline of its severity
    (``collectors.vulnerabilities``: the exceptions register's deadlines unless the
    thresholds say otherwise).

    Example row: ``acme-corp/api/security/dependabot/12``, critical GHSA-abcd-1234-wxyz
    (CVE-2026-1111) in npm ``lodash`` (``package-lock.json``), created 2026-11-20, first
    patched 4.17.22: past its 7-day deadline on 2026-12-01.
    """

    key = _KEY
    title = "GitHub Dependabot open alerts (remediation deadlines)"
    version = 1
    params = (
        *GITHUB_PARAMS,
        Param(
            "repositories",
            "list",
            help="Repositories (name or owner/name) to read one by one; empty: the "
            "organisation's alerts endpoint, falling back to every repository.",
        ),
    )
    permissions = ("security_events", "read:org")
    columns = (
        Column("alert", "string", "owner/name/security/dependabot/number."),
        Column("repository", "string", "owner/name."),
        Column("number", "integer", "Alert number in the repository."),
        Column("state", "string", "Alert state (open)."),
        Column("severity", "string", "critical, high, medium or low."),
        Column("ghsa_id", "string", "GitHub advisory id."),
        Column("cve_id", "string", "CVE id, when the advisory has one."),
        Column("summary", "string", "Advisory summary."),
        Column("ecosystem", "string", "Package ecosystem (npm, pip, maven, ...)."),
        Column("package", "string", "Vulnerable package."),
        Column("manifest_path", "string", "Manifest declaring the dependency."),
        Column("scope", "string", "runtime or development."),
        Column("vulnerable_version_range", "string", "Affected versions."),
        Column("first_patched_version", "string", "First fixed version (null: no fix yet)."),
        Column("created_at", "datetime", "When the alert was raised (first seen)."),
        Column("updated_at", "datetime", "Last change of the alert."),
        Column("url", "string", "The alert's page."),
        Column("as_of", "datetime", "Collection time the deadline is judged at (UTC)."),
    )
    resource_column = "alert"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """One row per open alert, sorted by repository then alert number."""
        api = GitHubAPI(ctx)
        api.identify()
        as_of = ctx.now()
        rows: list[dict[str, Any]] = []
        selected = ctx.params.get("repositories") or []
        org_alerts = None if selected else _org_alerts(ctx, api)
        if org_alerts is not None:
            rows = [row for alert in org_alerts if (row := _row(alert, None, as_of))]
        else:
            repos = [_full_name(api, name) for name in selected] or _org_repositories(ctx, api)
            for index, name in enumerate(repos):
                ctx.check_budget()
                rows.extend(_repository_rows(ctx, api, name, as_of))
                ctx.progress(index + 1, len(repos), name)
        return sorted(rows, key=lambda r: (r["repository"].lower(), r["number"]))

    @assertion(
        WITHIN_DEADLINE,
        title="No open Dependabot alert is past its remediation deadline",
        severity=Severity.HIGH,
        remediation="Merge Dependabot's security update (or upgrade the dependency to the "
        "first patched version) and deploy; an alert that cannot be fixed in time needs a "
        "risk acceptance in the exceptions register, not a dismissal.",
        controls=VULNERABILITY_CONTROLS,
        rationale=VULNERABILITY_RATIONALE,
        params=DEADLINE_PARAMS,
        per="table",
    )
    def remediated_within_deadline(
        rows: list[dict[str, Any]], params: dict[str, Any]
    ) -> Iterator[Outcome]:
        """Per open alert: PASS within its severity's deadline, FAIL past it (the alert's
        severity); one PASS for the whole collection when no alert is open."""
        return judge_open(
            rows,
            params,
            what=lambda row: (
                f"{row['cve_id'] or row['ghsa_id'] or 'advisory'} in "
                f"{row['ecosystem']} {row['package']} ({row['alert']})"
            ),
            first_seen="created_at",
            resource="alert",
            nothing="No open Dependabot alert with a deadline.",
        )


def _full_name(api: GitHubAPI, name: str) -> str:
    owner, _, repo = str(name).rpartition("/")
    return f"{owner or api.org}/{repo}"


def _pages(
    ctx: CollectionContext, api: GitHubAPI, operation: str, *parts: str, **query: str
) -> Iterator[list[dict[str, Any]]]:
    """Each page (a JSON list) of a Link-paginated list, minding the primary rate limit.

    An error status raises :class:`CollectorError` with GitHub's own ``message`` appended
    (rate limits were already retried by ``ctx.http``).
    """
    ctx.record_call(f"github:{operation}")
    url: str | None = api.url(*parts)
    params: dict[str, str] | None = {"per_page": _PER_PAGE, **query}
    seen: set[str] = set()
    pages = 0
    while url is not None:
        if pages >= _MAX_PAGES:
            raise CollectorError(f"{operation} returned more than {_MAX_PAGES} pages; the "
                                 "list was not read to the end", permanent=True)  # fmt: skip
        seen.add(url)
        response = ctx.http.get(url, headers=api.headers, params=params)
        if response.status_code >= 400:
            try:
                check_response(response)
            except CollectorError as exc:
                raise CollectorError(
                    f"{exc.message} ({error_message(response)})",
                    permanent=exc.permanent,
                    action=f"github:{operation}",
                    kind=exc.kind,
                ) from None
        pages += 1
        params = None  # the next link carries the query (and the cursor)
        body = response.json()
        if not isinstance(body, list):
            raise CollectorError(f"unexpected response from {operation}", permanent=False)
        nxt = (response.links.get("next") or {}).get("url")
        url = urljoin(response.url, nxt) if nxt else None
        if url in seen:
            url = None
        yield body
        if url is not None:
            _wait_for_reset(ctx, response)


def _wait_for_reset(ctx: CollectionContext, response: requests.Response) -> None:
    """Before the next page: when the primary limit is used up, wait until it resets."""
    if response.headers.get("X-RateLimit-Remaining", "").strip() != "0":
        return
    session = ctx.http
    clock = session.clock if isinstance(session, HTTPSession) else None
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        reset = None
    now = clock() if clock else datetime.now(UTC).timestamp()
    wait = max(1.0, reset - now) if reset is not None else 60.0
    if wait > ctx.remaining():
        raise CollectorError(
            f"GitHub's rate limit is used up until {_epoch(reset)}: waiting {wait:.0f} s "
            "exceeds the time budget",
            permanent=False,
            kind=ErrorKind.RATE_LIMITED,
        )
    ctx.logger.info("GitHub rate limit used up: waiting %.0f s for the reset", wait)
    if isinstance(session, HTTPSession):
        session.waits.append(wait)
        session.sleep(wait)


def _epoch(value: float | None) -> str:
    if value is None:
        return "an unknown time"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _org_alerts(ctx: CollectionContext, api: GitHubAPI) -> list[dict[str, Any]] | None:
    """Every open alert from the organisation endpoint, or None when it is refused."""
    alerts: list[dict[str, Any]] = []
    try:
        for page in _pages(ctx, api, _ORG_OPERATION, "orgs", api.org, "dependabot", "alerts",
                           state="open"):  # fmt: skip
            alerts.extend(page)
    except CollectorError as exc:
        if not exc.permanent or exc.kind == ErrorKind.CREDENTIALS:
            raise
        ctx.logger.info(
            "organisation Dependabot alerts refused (%s): reading repository by repository",
            exc.message,
        )
        return None
    return alerts


def _org_repositories(ctx: CollectionContext, api: GitHubAPI) -> list[str]:
    names: list[str] = []
    for page in _pages(ctx, api, "repos/list-for-org", "orgs", api.org, "repos", type="all"):
        names.extend(str(repo["full_name"]) for repo in page)
    return names


def _repository_rows(
    ctx: CollectionContext, api: GitHubAPI, full_name: str, as_of: datetime
) -> list[dict[str, Any]]:
    """Rows of one repository's open alerts; an unreadable repository is an ERROR for it."""
    owner, name = full_name.split("/", 1)
    rows: list[dict[str, Any]] = []
    try:
        for page in _pages(ctx, api, _REPO_OPERATION, "repos", owner, name, "dependabot",
                           "alerts", state="open"):  # fmt: skip
            rows.extend(row for alert in page if (row := _row(alert, full_name, as_of)))
    except CollectorError as exc:
        if not exc.permanent or exc.kind == ErrorKind.CREDENTIALS:
            raise
        ctx.error(
            f"cannot read the Dependabot alerts of {full_name}: {exc.message}",
            action=f"github:{_REPO_OPERATION}",
            resource=full_name,
            assertions=(WITHIN_DEADLINE,),
        )
        return []
    return rows


def _row(alert: dict[str, Any], full_name: str | None, as_of: datetime) -> dict[str, Any] | None:
    """The row of an open alert; None for one that was fixed or dismissed."""
    state = str(alert.get("state") or "").lower()
    closed = alert.get("fixed_at") or alert.get("dismissed_at") or alert.get("auto_dismissed_at")
    if state != "open" or closed:
        return None
    repository = full_name or str((alert.get("repository") or {}).get("full_name") or "")
    number = int(alert["number"])
    advisory = alert.get("security_advisory") or {}
    vulnerability = alert.get("security_vulnerability") or {}
    dependency = alert.get("dependency") or {}
    package = vulnerability.get("package") or dependency.get("package") or {}
    patched = vulnerability.get("first_patched_version") or {}
    severity = normalise_severity(vulnerability.get("severity")) or normalise_severity(
        advisory.get("severity")
    )
    return {
        "alert": f"{repository}/security/dependabot/{number}",
        "repository": repository,
        "number": number,
        "state": state,
        "severity": severity,
        "ghsa_id": advisory.get("ghsa_id"),
        "cve_id": advisory.get("cve_id"),
        "summary": advisory.get("summary"),
        "ecosystem": package.get("ecosystem"),
        "package": package.get("name"),
        "manifest_path": dependency.get("manifest_path"),
        "scope": dependency.get("scope"),
        "vulnerable_version_range": vulnerability.get("vulnerable_version_range"),
        "first_patched_version": patched.get("identifier"),
        "created_at": alert.get("created_at"),
        "updated_at": alert.get("updated_at"),
        "url": alert.get("html_url"),
        "as_of": as_of,
    }
