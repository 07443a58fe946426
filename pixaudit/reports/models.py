"""Rendered PDF reports: what was asked for, how far the job got, and what it produced.

A report covers one framework over a period of whole UTC days (both ends inclusive). The
``reports`` job renders it, stores the PDF through Django's default storage and records its
SHA-256, so a report handed to an auditor can be matched to the stored file later. At the
same moment it pins the evidence the report was rendered from (:class:`ReportEvidencePin`):
the report's evidence pack is built from that pin and that stored PDF, never from whatever
the database holds when the pack is downloaded. Business logic lives in ``services``; these
classes only describe the data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pixaudit.controls.models import Control, Framework
from pixaudit.lib.append_only import AppendOnlyHistoryModel


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Report(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="reports")
    period_start = models.DateField(help_text="First day of the period (UTC, inclusive).")
    period_end = models.DateField(help_text="Last day of the period (UTC, inclusive).")
    # A plain integer until the audits app links engagements to reports (a later migration
    # may turn it into a foreign key without changing the column).
    engagement_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="0..100")
    progress_message = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    job_id = models.CharField(max_length=100, blank=True, default="")
    file_path = models.CharField(max_length=300, blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0)
    page_count = models.PositiveIntegerField(default=0)
    chain_head_seq = models.BigIntegerField(default=0)
    chain_head_hash = models.CharField(max_length=64, blank=True, default="")
    #: Auditor downloads are stamped with the viewer's name and the time (see services).
    watermark_downloads = models.BooleanField(default=True)
    #: The data-subject request register's evidence (collector ``privacy_requests``) is
    #: listed and packed only when selected (issue 20); fixed when the report is created.
    include_privacy_register = models.BooleanField(default=False)
    #: Limited to one AWS account or one OU (``awsorg.selectors.aws_scope``); both empty:
    #: every account. Other accounts' AWS results and evidence leave the report and its
    #: packs; everything not collected by an AWS integration stays. Fixed at creation.
    aws_account = models.CharField(max_length=12, blank=True, default="")
    aws_ou = models.CharField(max_length=80, blank=True, default="")
    #: The scope in words when the report was asked for (the OU path may change later).
    aws_scope_label = models.CharField(max_length=300, blank=True, default="")
    watermark_text = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Extra line for every watermark, e.g. 'Confidential - prepared for X'.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="reports_report_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.pk} {self.framework_id} {self.period_start}..{self.period_end}"

    @property
    def active(self) -> bool:
        return self.status in (ReportStatus.QUEUED, ReportStatus.RUNNING)

    @property
    def aws_scoped(self) -> bool:
        return bool(self.aws_account or self.aws_ou)

    @property
    def aws_scope_log(self) -> dict[str, str] | None:
        """The AWS scope as the audit log records it (None: every account)."""
        if not self.aws_scoped:
            return None
        return {"account": self.aws_account, "ou": self.aws_ou, "label": self.aws_scope_label}

    @property
    def filename(self) -> str:
        scope = f"-aws-{self.aws_account or self.aws_ou}" if self.aws_scoped else ""
        return f"pixaudit-{self.framework.key}-{self.period_start}-{self.period_end}{scope}.pdf"


class ReportEvidencePin(models.Model):
    """The evidence set a rendered report was made from, fixed when it was rendered.

    Together with the report's ``chain_head_seq``/``chain_head_hash`` (the chain head read
    *before* the evidence, so every pinned item has ``seq <= chain_head_seq``) this is what
    the report's pack, preview and OSCAL links are rebuilt from. Written once, in the same
    transaction that marks the report succeeded; never changed afterwards. A separate table
    rather than a column of ``Report``: a year of evidence is thousands of ids, which lists
    of reports should not load.
    """

    report = models.OneToOneField(
        Report, primary_key=True, on_delete=models.CASCADE, related_name="evidence_pin"
    )
    as_of = models.DateTimeField(
        help_text="When the report's data was read: freshness and applicability are as of then."
    )
    evidence_ids = models.JSONField(
        default=list, help_text="Sorted ids of every evidence item the report lists."
    )
    evidence_count = models.PositiveIntegerField(default=0)
    evidence_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 of the canonical JSON list of the pinned ids."
    )
    aws_excluded_connections = models.JSONField(
        null=True,
        blank=True,
        help_text="A report limited to one AWS account or OU: the AWS integration connections "
        "it left out when rendered (null: not limited).",
    )

    def __str__(self) -> str:
        return f"evidence pin of report {self.report_id}: {self.evidence_count} items"


#: Trust Services categories an organisation may put in scope besides Security (always in).
OPTIONAL_CATEGORIES = (
    Control.Category.AVAILABILITY,
    Control.Category.CONFIDENTIALITY,
    Control.Category.PROCESSING_INTEGRITY,
    Control.Category.PRIVACY,
)


class ScopeStatement(AppendOnlyHistoryModel):
    """The organisation's scope statement for a framework's reports, one version per save.

    Append-only: the newest version is the scope; a report uses the version current when
    its data was read (``as_of``), so its pack and preview say what the PDF said. The four
    booleans are the Trust Services categories chosen besides Security (always in scope);
    controls of a category left out leave the report and the readiness figure (dashboard
    included, through ``posture.selectors.assessable_controls``).
    """

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="+")
    system_description = models.TextField()
    boundaries = models.TextField(blank=True, default="")
    availability = models.BooleanField(default=False)
    confidentiality = models.BooleanField(default=False)
    processing_integrity = models.BooleanField(default=False)
    privacy = models.BooleanField(default=False)
    subservice_organisations = models.TextField(blank=True, default="")
    complementary_user_entity_controls = models.TextField(blank=True, default="")
    management_assertion = models.TextField(blank=True, default="")
    signatory_name = models.CharField(max_length=200, blank=True, default="")
    signatory_title = models.CharField(max_length=200, blank=True, default="")
    assertion_date = models.DateField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["framework_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"scope of {self.framework_id} v{self.pk}"

    @property
    def categories(self) -> list[str]:
        """Categories in scope, Security first (values of ``Control.Category``)."""
        return [Control.Category.SECURITY.value] + [
            c.value for c in OPTIONAL_CATEGORIES if getattr(self, c.value)
        ]

    @property
    def category_labels(self) -> list[str]:
        return [Control.Category(c).label for c in self.categories]

    @property
    def categories_out(self) -> list[str]:
        return [c.value for c in OPTIONAL_CATEGORIES if not getattr(self, c.value)]


class ControlNarrative(AppendOnlyHistoryModel):
    """The organisation's own description of how a control is performed, one version per
    edit (append-only; the newest is current, a report prints the one current at ``as_of``)."""

    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["control_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"narrative of control {self.control_id} v{self.pk}"


class PackBuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"


class PackAudience(models.TextChoices):
    #: Managers' pack from the report pages: the stored PDF as rendered.
    INTERNAL = "internal", "Internal"
    #: An engagement page's pack: the PDF stamped for the auditor (or manager) who asked.
    ENGAGEMENT = "engagement", "Engagement"


class PackBuild(models.Model):
    """One evidence pack build: asked for on a page, built by a job, stored as a file.

    The page that asks returns at once; the ``reports`` job (``jobs.pack_build_run``) builds
    the ZIP with ``services.pack_build`` into the default storage and records its size and
    SHA-256, so the download serves the stored file and its digest matches the audit log.
    A build for an engagement page carries the PDF stamped for ``requested_by`` (the label
    is kept in ``viewer_label``); only its requester among auditors may download it.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="pack_builds")
    engagement_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    audience = models.CharField(max_length=16, choices=PackAudience.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    viewer_label = models.CharField(max_length=300, blank=True, default="")
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=PackBuildStatus.choices, default=PackBuildStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="0..100")
    progress_message = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    job_id = models.CharField(max_length=100, blank=True, default="")
    file_path = models.CharField(max_length=300, blank=True, default="")
    filename = models.CharField(max_length=200, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    manifest_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: When the retention sweep removed the stored file (``services_packs.pack_builds_sweep``);
    #: the row, its digests and its audit trail stay.
    swept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pack build {self.pk} of report {self.report_id} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (PackBuildStatus.QUEUED, PackBuildStatus.RUNNING)
