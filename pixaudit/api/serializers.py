"""Response and request shapes of the API (read-only model serializers, small inputs)."""

from __future__ import annotations

from rest_framework import serializers

from pixaudit.auditlog.models import AuditEvent
from pixaudit.audits.models import Engagement
from pixaudit.controls.models import Framework
from pixaudit.evidence.models import (
    CollectionRun,
    Connection,
    EvidenceItem,
    Finding,
    ManualEvidence,
)


class FrameworkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Framework
        fields = ["key", "name", "version", "publisher"]


class ControlStatusSerializer(serializers.Serializer):
    """One assessable control with its current status (as on the dashboard)."""

    ref = serializers.CharField()
    address = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    stale = serializers.BooleanField()
    assertion_ids = serializers.ListField(child=serializers.CharField())
    passing_results = serializers.IntegerField()
    failing_results = serializers.IntegerField()
    warning_results = serializers.IntegerField()
    last_collected_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class FindingSerializer(serializers.ModelSerializer):
    evidence = serializers.IntegerField(source="evidence_id")
    run = serializers.IntegerField(source="run_id", allow_null=True)

    class Meta:
        model = Finding
        fields = ["id", "evidence", "run", "assertion_id", "resource", "status", "severity",
                  "message", "thresholds", "controls", "collected_at"]  # fmt: skip


class EvidenceSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id")
    connection = serializers.IntegerField(source="connection_id", allow_null=True)

    class Meta:
        model = EvidenceItem
        fields = ["id", "seq", "run", "connection", "collector_key", "collector_version",
                  "pixaudit_version", "collected_at", "effective_at", "expires_at", "row_count",
                  "findings_count", "sha256", "size", "findings_digest", "prev_chain_hash",
                  "chain_hash", "digest_version", "provenance"]  # fmt: skip


class RunSerializer(serializers.ModelSerializer):
    connection = serializers.IntegerField(source="connection_id", allow_null=True)

    class Meta:
        model = CollectionRun
        fields = ["id", "connection", "collector_key", "status", "trigger", "attempt",
                  "queued_at", "started_at", "finished_at", "rows_count", "findings_pass",
                  "findings_fail", "findings_warn", "findings_error", "error_message",
                  "error_permanent", "retry_at"]  # fmt: skip


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection without its secrets: only the names of the secrets that are set."""

    secrets_set = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["id", "name", "collector_key", "params", "secrets_set", "thresholds",
                  "schedule_minutes", "enabled", "next_run_at", "created_at",
                  "updated_at"]  # fmt: skip

    def get_secrets_set(self, obj: Connection) -> list[str]:
        return sorted(obj.secrets or {})


class ManualEvidenceSerializer(serializers.ModelSerializer):
    evidence = serializers.IntegerField(source="evidence_id")
    owner = serializers.CharField(source="owner.username", allow_null=True, default=None)
    uploaded_by = serializers.CharField(
        source="uploaded_by.username", allow_null=True, default=None
    )

    class Meta:
        model = ManualEvidence
        fields = ["id", "evidence", "title", "description", "kind", "file_name", "content_type",
                  "size", "file_sha256", "effective_on", "valid_until", "recurrence", "owner",
                  "uploaded_by", "uploaded_at", "control_addresses"]  # fmt: skip


class ManualUploadSerializer(serializers.Serializer):
    """A manual upload: the same fields and validation as the upload page."""

    file = serializers.FileField()
    title = serializers.CharField(max_length=200)
    controls = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
    effective_on = serializers.DateField()
    valid_until = serializers.DateField(required=False, allow_null=True)
    recurrence = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.CharField(required=False, default="other")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class EngagementSerializer(serializers.ModelSerializer):
    frameworks = serializers.SlugRelatedField(many=True, read_only=True, slug_field="key")

    class Meta:
        model = Engagement
        fields = ["id", "name", "frameworks", "window_start", "window_end", "created_at"]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_id", "actor_repr", "action", "object_type", "object_id",
                  "object_repr", "ip", "details"]  # fmt: skip


class CommitmentStateSerializer(serializers.Serializer):
    key = serializers.CharField(source="commitment.key")
    title = serializers.CharField(source="commitment.title")
    section = serializers.CharField(source="commitment.section")
    statement = serializers.CharField(source="commitment.statement")
    status = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    last_verified_at = serializers.DateTimeField(allow_null=True)


class RunStartSerializer(serializers.Serializer):
    """No body: the run uses the connection's saved params and secrets."""


class PushMetadataSerializer(serializers.Serializer):
    """Where the pushed evidence comes from (goes into the item's provenance)."""

    repository = serializers.CharField(max_length=300, required=False)
    commit = serializers.CharField(max_length=100, required=False)
    ref = serializers.CharField(max_length=300, required=False)
    workflow = serializers.CharField(max_length=300, required=False)
    run_id = serializers.CharField(max_length=100, required=False)
    pipeline_url = serializers.URLField(max_length=500, required=False)
    actor = serializers.CharField(max_length=150, required=False)


class PushSerializer(serializers.Serializer):
    """Rows (a list of objects with the collector's declared columns), or one ``document``."""

    rows = serializers.ListField(child=serializers.JSONField(), required=False, max_length=100_000)
    document = serializers.JSONField(required=False)
    metadata = PushMetadataSerializer(required=False)

    def validate(self, attrs):
        if ("rows" in attrs) == ("document" in attrs):
            raise serializers.ValidationError("Send either rows (a list) or one document.")
        unknown = set(self.initial_data) - {"rows", "document", "metadata"}
        if unknown:
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        metadata = self.initial_data.get("metadata")
        meta_unknown = set(metadata if isinstance(metadata, dict) else {}) - set(
            PushMetadataSerializer().fields
        )
        if meta_unknown:
            raise serializers.ValidationError(
                {"metadata": f"Unknown field(s): {', '.join(sorted(meta_unknown))}."}
            )
        return attrs


class PushResultSerializer(serializers.Serializer):
    evidence = EvidenceSerializer()
    findings = serializers.DictField(child=serializers.IntegerField())


class _CoverageCounters(serializers.Serializer):
    days_passing = serializers.IntegerField()
    days_failing = serializers.IntegerField()
    days_error = serializers.IntegerField()
    days_without_evidence = serializers.IntegerField()
    days_not_applicable = serializers.IntegerField()
    days_risk_accepted = serializers.IntegerField(
        help_text="Days excluded from monitoring (risk accepted): a failure whose exceptions "
        "all had a risk acceptance in force that day; in neither the numerator nor the "
        "denominator of coverage_pct (as on the coverage page)."
    )
    days_in_scope = serializers.IntegerField(
        help_text="Days of the window less the not applicable and the risk-accepted days."
    )
    coverage_pct = serializers.FloatField(
        allow_null=True,
        help_text="days_passing / days_in_scope x 100; null when no day is in scope.",
    )


class ControlCoverageSerializer(_CoverageCounters):
    """One control over the window: counters and one status per UTC day."""

    ref = serializers.CharField(source="control.ref")
    address = serializers.CharField(source="control.address")
    title = serializers.CharField(source="control.title")
    tested = serializers.BooleanField()
    days = serializers.ListField(child=serializers.CharField())


class FrameworkCoverageSerializer(_CoverageCounters):
    """``posture.coverage.framework_coverage``: did each control operate every day?"""

    framework = serializers.CharField(source="framework.key")
    start = serializers.DateField()
    end = serializers.DateField()
    controls_not_tested = serializers.IntegerField()
    controls = ControlCoverageSerializer(many=True)
