"""Reads of the audits app, and THE scoping rule for auditors.

Every auditor-facing view reads through these functions: an auditor sees an engagement only
while one of their invitations to it is accepted, unrevoked and unexpired (checked on every
request), and sees only evidence collected inside the engagement's window. Objects outside
that scope raise ``DoesNotExist`` exactly like missing ones, so views answer 404 either way
and never reveal whether another engagement's object exists. The data-subject request
register's evidence (``privacy_requests``) is in scope only for an engagement with
``include_privacy_register`` on (issue 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from collectors import registry
from pixaudit.accounts.models import Role, User
from pixaudit.accounts.permissions import MANAGERS
from pixaudit.audits.models import (
    AuditorInvitation,
    Engagement,
    EvidenceRequest,
    EvidenceRequestEvent,
    Sample,
)
from pixaudit.controls.models import Framework
from pixaudit.evidence.models import EvidenceItem, Finding
from pixaudit.evidence.selectors import evidence_list
from pixaudit.reports.models import Report, ReportEvidencePin, ReportStatus
from pixaudit.reports.selectors import PRIVACY_REGISTER_COLLECTOR
from pixaudit.reports.signing import public_key_fingerprint

__all__ = [
    "Download",
    "IdentityPopulation",
    "engagement_downloads",
    "engagement_evidence_get",
    "engagement_evidence_list",
    "engagement_findings",
    "engagement_get_for_user",
    "engagement_invitations",
    "engagement_list_for_user",
    "engagement_report_get",
    "engagement_reports",
    "engagement_reports_latest",
    "engagement_window",
    "evidence_request_events",
    "evidence_request_get",
    "evidence_request_list",
    "identity_populations",
    "invitations_active_for",
    "sample_get",
    "sample_list",
]


def invitations_active_for(*, user: User) -> QuerySet[AuditorInvitation]:
    """The auditor's invitations that grant access right now."""
    return AuditorInvitation.objects.filter(
        user=user,
        accepted_at__isnull=False,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def engagement_list_for_user(*, user: User) -> QuerySet[Engagement]:
    """Managers see every engagement, auditors their active ones, everyone else none."""
    qs = Engagement.objects.prefetch_related("frameworks")
    if user.role in MANAGERS:
        return qs.all()
    if user.role == Role.AUDITOR:
        ids = invitations_active_for(user=user).values("engagement_id")
        return qs.filter(pk__in=ids)
    return qs.none()


def engagement_get_for_user(*, user: User, pk: int) -> Engagement:
    """The engagement if ``user`` may see it; ``Engagement.DoesNotExist`` otherwise."""
    return engagement_list_for_user(user=user).get(pk=pk)


def engagement_window(*, engagement: Engagement) -> tuple[datetime, datetime]:
    """``(since, until)``: UTC midnight of the first day, UTC midnight after the last day."""
    since = datetime.combine(engagement.window_start, time.min, tzinfo=UTC)
    until = datetime.combine(engagement.window_end + timedelta(days=1), time.min, tzinfo=UTC)
    return since, until


def engagement_evidence_list(
    *, engagement: Engagement, collector_key: str | None = None
) -> QuerySet[EvidenceItem]:
    """Evidence collected inside the window (by ``collected_at``), newest first.

    THE evidence scope of an engagement: without ``include_privacy_register`` the
    data-subject request register's items are left out, so every consumer (lists, detail,
    download, samples, API, request attachments) answers as if they did not exist.
    """
    since, until = engagement_window(engagement=engagement)
    items = evidence_list(collector_key=collector_key or None, since=since, until=until)
    if not engagement.include_privacy_register:
        items = items.exclude(collector_key=PRIVACY_REGISTER_COLLECTOR)
    return items


def engagement_evidence_get(*, engagement: Engagement, pk: int) -> EvidenceItem:
    return engagement_evidence_list(engagement=engagement).get(pk=pk)


def engagement_findings(*, engagement: Engagement, evidence: EvidenceItem) -> QuerySet[Finding]:
    since, until = engagement_window(engagement=engagement)
    return Finding.objects.filter(
        evidence=evidence, collected_at__gte=since, collected_at__lt=until
    ).order_by("assertion_id", "resource", "id")


def engagement_invitations(*, engagement: Engagement) -> QuerySet[AuditorInvitation]:
    return engagement.invitations.select_related("user", "invited_by").order_by("-created_at")


def evidence_request_list(*, engagement: Engagement) -> QuerySet[EvidenceRequest]:
    return engagement.requests.select_related("control", "control__framework", "requested_by")


def evidence_request_get(*, engagement: Engagement, pk: int) -> EvidenceRequest:
    return evidence_request_list(engagement=engagement).get(pk=pk)


def evidence_request_events(*, request: EvidenceRequest) -> QuerySet[EvidenceRequestEvent]:
    return request.events.select_related("actor").prefetch_related("evidence_items")


def sample_list(*, engagement: Engagement) -> QuerySet[Sample]:
    return engagement.samples.select_related(
        "created_by", "evidence", "control", "control__framework"
    )


def sample_get(*, engagement: Engagement, pk: int) -> Sample:
    return sample_list(engagement=engagement).get(pk=pk)


@dataclass(frozen=True)
class IdentityPopulation:
    collector_key: str
    title: str
    evidence: EvidenceItem


def identity_populations(*, engagement: Engagement) -> list[IdentityPopulation]:
    """Per identity-population collector, its latest evidence inside the window."""
    registry.discover()
    out = []
    for cls in registry.all_collectors():
        if not cls.identity_population:
            continue
        item = engagement_evidence_list(engagement=engagement, collector_key=cls.key).first()
        if item is not None:
            out.append(IdentityPopulation(collector_key=cls.key, title=cls.title, evidence=item))
    return out


def engagement_reports(*, engagement: Engagement) -> QuerySet[Report]:
    """Every report rendered for the engagement (``Report.engagement_id``), newest first.

    Only reports whose period lies inside the engagement's *current* window: a report
    rendered before the window was narrowed covers evidence its auditors may not see. For
    the same reason, while the engagement does not share the data-subject request register,
    reports rendered with it (before the setting was turned off) are left out.
    """
    reports = Report.objects.filter(
        engagement_id=engagement.pk,
        period_start__gte=engagement.window_start,
        period_end__lte=engagement.window_end,
    ).select_related("framework")
    if not engagement.include_privacy_register:
        reports = reports.filter(include_privacy_register=False)
    return reports


def engagement_report_get(*, engagement: Engagement, pk: int) -> Report:
    """A succeeded report of this engagement; ``Report.DoesNotExist`` otherwise.

    Another engagement's report, a report without an engagement and one not rendered yet
    are all refused alike.
    """
    return engagement_reports(engagement=engagement).get(pk=pk, status=ReportStatus.SUCCEEDED)


@dataclass(frozen=True)
class EngagementReports:
    """Per framework of the engagement: its newest report (any status) and newest success."""

    framework: Framework
    latest: Report | None
    succeeded: Report | None


def engagement_reports_latest(*, engagement: Engagement) -> list[EngagementReports]:
    reports = list(engagement_reports(engagement=engagement)[:200])
    out = []
    for framework in engagement.frameworks.order_by("key"):
        mine = [r for r in reports if r.framework_id == framework.pk]
        done = [r for r in mine if r.status == ReportStatus.SUCCEEDED]
        out.append(EngagementReports(framework, mine[0] if mine else None,
                                     done[0] if done else None))  # fmt: skip
    return out


@dataclass(frozen=True)
class Download:
    label: str
    url: str
    description: str = ""
    #: A button that POSTs to ``url`` (starts a background job) rather than a link.
    post: bool = False


def engagement_downloads(*, engagement: Engagement, user: User) -> list[Download]:
    """Engagement-level downloads offered on the engagement page, for managers and auditors.

    For each framework of the engagement, its latest succeeded report: the PDF (stamped with
    the viewer's name, e-mail and the time) and the signed evidence pack. The views behind
    these URLs scope with ``engagement_get_for_user`` and ``engagement_report_get`` and log
    ``engagement.download``. Nothing is offered before a report has succeeded. A pack holds
    exactly the evidence its report was rendered from (the report's evidence pin).
    """
    out: list[Download] = []
    entries = [e for e in engagement_reports_latest(engagement=engagement) if e.succeeded]
    pinned = dict(
        ReportEvidencePin.objects.filter(
            report_id__in=[e.succeeded.pk for e in entries]
        ).values_list("report_id", "evidence_count")
    )
    fingerprint = public_key_fingerprint() if entries else ""
    for entry in entries:
        report = entry.succeeded
        kwargs = {"pk": engagement.pk, "report_pk": report.pk}
        rendered = (
            f", rendered {report.finished_at:%Y-%m-%d %H:%M} UTC" if report.finished_at else ""
        )
        limited = f", limited to {report.aws_scope_label}" if report.aws_scoped else ""
        about = (
            f"report #{report.pk}, {report.period_start:%Y-%m-%d} to {report.period_end:%Y-%m-%d}"
            f"{limited}{rendered}, SHA-256 {report.sha256[:16]}…"
        )
        name = entry.framework.name
        stamp = " (stamped with your name and the time)" if report.watermark_downloads else ""
        out.append(Download(f"PDF report · {name}", reverse("audits:report_pdf", kwargs=kwargs),
                            f"{about}{stamp}"))  # fmt: skip
        count = pinned.get(report.pk)
        holds = (
            f"the {count} evidence item{'s' if count != 1 else ''} report #{report.pk} was "
            "rendered from, "
            if count is not None
            else ""
        )
        verify = f"`manage.py verify_pack pack.zip --fingerprint {fingerprint}`"
        out.append(Download(f"Build the evidence pack (ZIP) · {name}",
                            reverse("audits:report_pack", kwargs=kwargs),
                            f"{holds}signed with the key {fingerprint}; built in the background, "
                            f"then offered for download; verify offline with {verify}",
                            post=True))  # fmt: skip
    return out
