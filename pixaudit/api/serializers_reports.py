"""Shapes of the reports endpoints: a report (status, digests, pinned chain head, AWS scope,
links) and a request for one (framework and period, or an engagement)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pixaudit.reports.models import Report, ReportEvidencePin, ReportStatus


class AwsScopeSerializer(serializers.Serializer):
    """One AWS account or one OU the report is limited to (as the audit log records it)."""

    account = serializers.CharField(help_text="The AWS account id, or empty for an OU scope.")
    ou = serializers.CharField(help_text="The OU id, or empty for an account scope.")
    label = serializers.CharField(help_text="The scope in words when the report was requested.")


class ChainHeadSerializer(serializers.Serializer):
    """The evidence chain head the report was rendered at (every listed item is at or below)."""

    seq = serializers.IntegerField()
    hash = serializers.CharField()


class EvidencePinSerializer(serializers.Serializer):
    """The evidence the rendered report lists, fixed when it rendered."""

    as_of = serializers.DateTimeField(help_text="When the report's data was read.")
    evidence_count = serializers.IntegerField()
    evidence_sha256 = serializers.CharField(
        help_text="SHA-256 of the canonical JSON list of the pinned evidence ids."
    )


def _succeeded(report: Report) -> bool:
    return report.status == ReportStatus.SUCCEEDED


def _pin(report: Report) -> ReportEvidencePin | None:
    try:
        return report.evidence_pin
    except ReportEvidencePin.DoesNotExist:
        return None


class AbsoluteLinks:
    """Links as absolute URLs of the request being answered (paths without a request)."""

    context: dict

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ReportSerializer(AbsoluteLinks, serializers.ModelSerializer):
    """A report as the report page shows it; what exists only once rendered is null before."""

    framework = serializers.CharField(source="framework.key")
    framework_name = serializers.CharField(source="framework.name")
    engagement = serializers.IntegerField(source="engagement_id", allow_null=True)
    status_label = serializers.CharField(source="get_status_display")
    active = serializers.BooleanField(help_text="Queued or running: poll url until false.")
    error_message = serializers.SerializerMethodField()
    sha256 = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    page_count = serializers.SerializerMethodField()
    chain_head = serializers.SerializerMethodField()
    evidence_pin = serializers.SerializerMethodField()
    aws_scope = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "framework", "framework_name", "period_start", "period_end",
                  "engagement", "include_privacy_register", "aws_scope", "status",
                  "status_label", "active", "progress", "progress_message", "error_message",
                  "sha256", "size", "page_count", "chain_head", "evidence_pin", "created_by",
                  "created_at", "started_at", "finished_at", "url", "pdf_url",
                  "page_url"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="Why the render failed (null unless status is failed)."
        )
    )
    def get_error_message(self, report: Report) -> str | None:
        """Why the render failed (null unless ``status`` is ``failed``)."""
        return report.error_message if report.status == ReportStatus.FAILED else None

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="SHA-256 of the stored PDF (null until rendered)."
        )
    )
    def get_sha256(self, report: Report) -> str | None:
        """SHA-256 of the stored PDF (null until rendered); the PDF download matches it."""
        return report.sha256 if _succeeded(report) else None

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text="Bytes."))
    def get_size(self, report: Report) -> int | None:
        return report.size if _succeeded(report) else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_page_count(self, report: Report) -> int | None:
        return report.page_count if _succeeded(report) else None

    @extend_schema_field(
        ChainHeadSerializer(
            allow_null=True,
            help_text="The evidence chain head pinned by the render (null until then).",
        )
    )
    def get_chain_head(self, report: Report) -> dict | None:
        if not _succeeded(report):
            return None
        return {"seq": report.chain_head_seq, "hash": report.chain_head_hash}

    @extend_schema_field(
        EvidencePinSerializer(
            allow_null=True, help_text="The evidence the render pinned (null until then)."
        )
    )
    def get_evidence_pin(self, report: Report) -> dict | None:
        pin = _pin(report)
        if pin is None:
            return None
        return EvidencePinSerializer(pin).data

    @extend_schema_field(
        AwsScopeSerializer(
            allow_null=True,
            help_text="The one AWS account or OU the report is limited to; null: every account.",
        )
    )
    def get_aws_scope(self, report: Report) -> dict | None:
        """Null: every AWS account."""
        return report.aws_scope_log

    @extend_schema_field(serializers.URLField(help_text="This report in the API (poll it)."))
    def get_url(self, report: Report) -> str:
        """This report in the API: poll it for ``status`` and ``progress``."""
        return self._absolute(reverse("api:report_detail", args=[report.pk]))

    @extend_schema_field(
        serializers.URLField(allow_null=True, help_text="The PDF download (null until rendered).")
    )
    def get_pdf_url(self, report: Report) -> str | None:
        """The PDF download (null until rendered)."""
        if not _succeeded(report):
            return None
        return self._absolute(reverse("api:report_pdf", args=[report.pk]))

    @extend_schema_field(serializers.URLField(help_text="The report's page on the site."))
    def get_page_url(self, report: Report) -> str:
        """The report's page on the site."""
        return self._absolute(reverse("reports:detail", args=[report.pk]))


#: The fields a report request may carry (anything else is refused, named).
REQUEST_FIELDS = ("framework", "period_start", "period_end", "engagement",
                  "include_privacy_register", "aws_account", "aws_ou")  # fmt: skip


class ReportRequestSerializer(serializers.Serializer):
    """Ask for a report: a framework and a period, or an engagement (its window is the
    period), optionally limited to one AWS account or one OU. The reports service checks
    the rest (framework loaded, period order, engagement frameworks, AWS scope known)."""

    framework = serializers.CharField(
        max_length=100, required=False,
        help_text="A loaded framework's key, e.g. soc2-2017. With an engagement: one of its "
        "frameworks (may be left out when it has only one).",
    )  # fmt: skip
    period_start = serializers.DateField(
        required=False,
        help_text="First day (UTC, inclusive). Left out: the 90 days ending on period_end.",
    )
    period_end = serializers.DateField(
        required=False, help_text="Last day (UTC, inclusive). Left out: today."
    )
    engagement = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False,
        help_text="An audit engagement: the report covers its window (no period_start or "
        "period_end), and includes the data-subject request register as the engagement says. "
        "An active report of the same engagement, framework and AWS scope is returned (200) "
        "instead of queuing another.",
    )  # fmt: skip
    include_privacy_register = serializers.BooleanField(
        required=False, default=False,
        help_text="List and pack the data-subject request register's evidence (default: left "
        "out). Not with an engagement, whose own setting decides.",
    )  # fmt: skip
    aws_account = serializers.CharField(
        max_length=12, required=False, allow_blank=True, default="",
        help_text="Limit the report to this AWS account (one an AWS integration collects).",
    )  # fmt: skip
    aws_ou = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="",
        help_text="Or limit it to this OU (one above a collected AWS account).",
    )  # fmt: skip

    def validate(self, attrs):
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = set(data) - set(REQUEST_FIELDS)
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field(s): {', '.join(sorted(unknown))} (known: "
                f"{', '.join(REQUEST_FIELDS)})."
            )
        if attrs.get("engagement") is not None:
            errors = {}
            for name in ("period_start", "period_end"):
                if name in attrs:
                    errors[name] = (
                        "An engagement's report covers the engagement's window: leave "
                        "period_start and period_end out."
                    )
            if "include_privacy_register" in data:
                errors["include_privacy_register"] = (
                    "An engagement's report includes the data-subject request register when "
                    "the engagement shares it with its auditors: leave this out."
                )
            if errors:
                raise serializers.ValidationError(errors)
        return attrs
