"""Shapes of the evidence pack endpoints: a pack build (status, digests, the report's AWS
scope, links, the retention sweep's message) and a request for one."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pixaudit.api.serializers_reports import AbsoluteLinks, AwsScopeSerializer
from pixaudit.reports.models import PackBuild, PackBuildStatus
from pixaudit.reports.services_packs import pack_build_swept_message


def packs_path(report_id: int) -> str:
    """Where a report's packs are listed and requested (named in messages)."""
    return reverse("api:report_packs", args=[report_id])


def swept_sentence(build: PackBuild) -> str:
    """The retention sweep's message as a sentence that says how to build the pack again."""
    message = pack_build_swept_message(build)
    return f"{message[:1].upper()}{message[1:]} (POST {packs_path(build.report_id)})."


def _ready(build: PackBuild) -> bool:
    return build.status == PackBuildStatus.SUCCEEDED


class PackBuildSerializer(AbsoluteLinks, serializers.ModelSerializer):
    """One build of a report's evidence pack, as the build's page on the site follows it;
    what exists only once built is null before."""

    report = serializers.IntegerField(source="report_id")
    framework = serializers.CharField(source="report.framework.key")
    status_label = serializers.CharField(source="get_status_display")
    active = serializers.BooleanField(help_text="Queued or running: poll url until false.")
    error_message = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    sha256 = serializers.SerializerMethodField()
    manifest_sha256 = serializers.SerializerMethodField()
    aws_scope = serializers.SerializerMethodField()
    requested_by = serializers.CharField(
        source="requested_by.username", allow_null=True, default=None
    )
    retry_of = serializers.IntegerField(source="retry_of_id", allow_null=True)
    swept_message = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = PackBuild
        fields = ["id", "report", "framework", "aws_scope", "status", "status_label", "active",
                  "progress", "progress_message", "error_message", "size", "sha256",
                  "manifest_sha256", "requested_by", "retry_of", "created_at", "started_at",
                  "finished_at", "swept_at", "swept_message", "url", "download_url",
                  "report_url", "page_url"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="Why the build failed, and what to do (null unless status is failed).",
        )
    )
    def get_error_message(self, build: PackBuild) -> str | None:
        return build.error_message if build.status == PackBuildStatus.FAILED else None

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text="Bytes of the ZIP."))
    def get_size(self, build: PackBuild) -> int | None:
        return build.size if _ready(build) else None

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="SHA-256 of the stored ZIP (null until built); the download's ETag.",
        )
    )
    def get_sha256(self, build: PackBuild) -> str | None:
        return build.sha256 if _ready(build) else None

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="SHA-256 of the pack's manifest.json, as recorded when built (null "
            "until then, or when not recorded).",
        )
    )
    def get_manifest_sha256(self, build: PackBuild) -> str | None:
        return (build.manifest_sha256 or None) if _ready(build) else None

    @extend_schema_field(
        AwsScopeSerializer(
            allow_null=True,
            help_text="The report's AWS account or OU, which the pack is limited to as the "
            "report is; null: every account.",
        )
    )
    def get_aws_scope(self, build: PackBuild) -> dict | None:
        return build.report.aws_scope_log

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="When the retention sweep removed the file (swept_at): what happened "
            "and how to build the pack again; null otherwise.",
        )
    )
    def get_swept_message(self, build: PackBuild) -> str | None:
        return swept_sentence(build) if build.swept_at else None

    @extend_schema_field(serializers.URLField(help_text="This build in the API (poll it)."))
    def get_url(self, build: PackBuild) -> str:
        return self._absolute(reverse("api:pack_build_detail", args=[build.pk]))

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text="The ZIP download (null until built, and once swept by retention).",
        )
    )
    def get_download_url(self, build: PackBuild) -> str | None:
        if not _ready(build) or build.swept_at is not None:
            return None
        return self._absolute(reverse("api:pack_build_download", args=[build.pk]))

    @extend_schema_field(serializers.URLField(help_text="The build's report in the API."))
    def get_report_url(self, build: PackBuild) -> str:
        return self._absolute(reverse("api:report_detail", args=[build.report_id]))

    @extend_schema_field(serializers.URLField(help_text="The build's page on the site."))
    def get_page_url(self, build: PackBuild) -> str:
        return self._absolute(reverse("reports:pack_detail", args=[build.pk]))


class PackRequestSerializer(serializers.Serializer):
    """Ask for a build of a rendered report's evidence pack (the body may be empty)."""

    retry_of = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False,
        help_text="A failed build of this report's pack that this build replaces (the site's "
        "\"Build again\"); the failed build stays as it was.",
    )  # fmt: skip

    def validate(self, attrs):
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = set(data) - {"retry_of"}
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field(s): {', '.join(sorted(unknown))} (known: retry_of)."
            )
        return attrs
