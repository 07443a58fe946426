"""The register of vendors and processors, their files and the incidents they notified.

Writes go through :mod:`pixaudit.vendors.services` (audit-logged; each change appends the
register as ``vendor_register`` evidence). ``VendorSettings`` is the organisation's opt-in
for the public sub-processor list on the trust page (off by default).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ReportKind(models.TextChoices):
    NONE = "", "None"
    SOC2_TYPE2 = "soc2_type2", "SOC 2 Type II report"
    ISO27001 = "iso27001", "ISO 27001 certificate"


class Vendor(models.Model):
    name = models.CharField(max_length=200, unique=True)
    purpose = models.CharField(max_length=500)
    #: Categories of data processed (e.g. "customer images", "e-mail addresses").
    data_categories = models.JSONField(default=list, blank=True)
    criticality = models.CharField(max_length=10, choices=Criticality.choices)
    is_processor = models.BooleanField(default=False, help_text="Processes personal data for us.")
    #: A sub-processor of our customers' data (listed on the public trust page when opted in).
    is_subprocessor = models.BooleanField(default=False)
    #: The vendor's own sub-processors (names).
    subprocessors = models.JSONField(default=list, blank=True)
    dpa_signed_on = models.DateField(null=True, blank=True)
    dpa_version = models.CharField(max_length=100, blank=True, default="")
    dpa_expires_on = models.DateField(null=True, blank=True)
    dpa_file = models.ForeignKey(
        "VendorFile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    report_kind = models.CharField(max_length=20, choices=ReportKind.choices, blank=True,
                                   default="")  # fmt: skip
    report_issuer = models.CharField(max_length=200, blank=True, default="")
    report_period_start = models.DateField(null=True, blank=True)
    report_period_end = models.DateField(null=True, blank=True)
    report_expires_on = models.DateField(null=True, blank=True)
    report_file = models.ForeignKey(
        "VendorFile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_review_on = models.DateField(null=True, blank=True)
    next_review_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def resource(self) -> str:
        """How findings name the vendor."""
        return f"vendor:{self.name}"


class VendorFile(models.Model):
    """A file kept with a vendor (the signed DPA, an independent report, anything else),
    checked like manual evidence and stored under ``vendors/files/`` with its SHA-256."""

    class Kind(models.TextChoices):
        DPA = "dpa", "Signed DPA"
        REPORT = "report", "Independent report"
        OTHER = "other", "Other"

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    file_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name}"


class VendorIncident(models.Model):
    """A security incident a vendor notified us of, and our own notification deadline."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="incidents")
    notified_on = models.DateField(help_text="When the vendor told us.")
    occurred_on = models.DateField(null=True, blank=True, help_text="When the incident happened.")
    notify_by = models.DateField(help_text="Our own notification deadline.")
    handled_on = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-notified_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.vendor.name}: {self.description[:60]}"

    @property
    def resource(self) -> str:
        return f"{self.vendor.resource}/incident:{self.pk}"


class VendorSettings(models.Model):
    """Singleton (pk=1): publish the sub-processor list on the trust page?"""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    publish_subprocessors = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    def __str__(self) -> str:
        return f"public sub-processor list {'on' if self.publish_subprocessors else 'off'}"
