"""Forms of the vendor pages (validation beyond shape lives in the services)."""

from __future__ import annotations

from django import forms

from pixaudit.vendors.models import Criticality, ReportKind, VendorFile

_DATE = {"widget": forms.DateInput(attrs={"type": "date"}), "required": False}


def _items(text: str) -> list[str]:
    return [i.strip() for i in str(text or "").replace("\n", ";").split(";") if i.strip()]


class VendorForm(forms.Form):
    name = forms.CharField(max_length=200)
    purpose = forms.CharField(max_length=500, help_text="What the vendor does for us.")
    data_categories = forms.CharField(
        required=False, label="Data processed",
        help_text="Categories of data, separated by ';' (e.g. customer images; e-mail addresses).",
    )  # fmt: skip
    criticality = forms.ChoiceField(choices=Criticality.choices)
    is_processor = forms.BooleanField(required=False, label="Processor of personal data")
    is_subprocessor = forms.BooleanField(
        required=False, label="Sub-processor of our customers' data",
        help_text="Listed (name and purpose only) on the trust page when the public list is on.",
    )  # fmt: skip
    subprocessors = forms.CharField(required=False, label="Their sub-processors",
                                    help_text="Names, separated by ';'.")  # fmt: skip
    dpa_signed_on = forms.DateField(label="DPA signed on", **_DATE)
    dpa_version = forms.CharField(max_length=100, required=False, label="DPA version")
    dpa_expires_on = forms.DateField(label="DPA expires on", **_DATE)
    report_kind = forms.ChoiceField(choices=ReportKind.choices, required=False,
                                    label="Independent report")  # fmt: skip
    report_issuer = forms.CharField(max_length=200, required=False, label="Issued by")
    report_period_start = forms.DateField(label="Period covered from", **_DATE)
    report_period_end = forms.DateField(label="Period covered to", **_DATE)
    report_expires_on = forms.DateField(label="Report or certificate expires on", **_DATE)
    last_review_on = forms.DateField(label="Last review", **_DATE)
    next_review_on = forms.DateField(label="Next review due", **_DATE)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_data_categories(self) -> list[str]:
        return _items(self.cleaned_data.get("data_categories"))

    def clean_subprocessors(self) -> list[str]:
        return _items(self.cleaned_data.get("subprocessors"))

    @classmethod
    def initial_for(cls, vendor) -> dict:  # type: ignore[no-untyped-def]
        from pixaudit.vendors.services import EDITABLE

        initial = {k: getattr(vendor, k) for k in EDITABLE}
        initial["data_categories"] = "; ".join(vendor.data_categories or [])
        initial["subprocessors"] = "; ".join(vendor.subprocessors or [])
        return initial


class FileForm(forms.Form):
    kind = forms.ChoiceField(choices=VendorFile.Kind.choices, label="This file is")
    file = forms.FileField(help_text="PDF, PNG, JPEG, text, CSV, DOCX or XLSX.")


class IncidentForm(forms.Form):
    description = forms.CharField(max_length=500)
    occurred_on = forms.DateField(label="Incident date", **_DATE)
    notified_on = forms.DateField(label="Notified to us on",
                                  widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    notify_by = forms.DateField(label="Our notification deadline",
                                widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    handled_on = forms.DateField(label="Handled on", **_DATE)


class HandleForm(forms.Form):
    handled_on = forms.DateField(label="Handled on", widget=forms.DateInput(attrs={"type": "date"}))


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or XLSX with the columns of the export.")


class FilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    criticality = forms.ChoiceField(choices=[("", "Any")] + list(Criticality.choices),
                                    required=False)  # fmt: skip
    processor = forms.ChoiceField(choices=[("", "Any"), ("yes", "Yes"), ("no", "No")],
                                  required=False)  # fmt: skip
    subprocessor = forms.ChoiceField(choices=[("", "Any"), ("yes", "Yes"), ("no", "No")],
                                     required=False)  # fmt: skip
    attention = forms.ChoiceField(
        choices=[("", "Everything"), ("review_overdue", "Review overdue or unscheduled"),
                 ("no_dpa", "Processor without a current signed DPA"),
                 ("report_expired", "Critical without a current report")],
        required=False, label="Needs attention",
    )  # fmt: skip
