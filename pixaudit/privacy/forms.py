from __future__ import annotations

from django import forms

from pixaudit.privacy.models import DataSubjectRequest
from pixaudit.privacy.selectors import STATES

_DATE = forms.DateInput(attrs={"type": "date"})


class RequestForm(forms.Form):
    """A request's details. The service checks the dates and the reference."""

    reference = forms.CharField(
        max_length=64,
        help_text="A short external reference (the ticket number). Never the requester's "
        "name, e-mail or the content of the request.",
    )
    kind = forms.ChoiceField(choices=DataSubjectRequest.Kind.choices)
    received_on = forms.DateField(label="Received on", widget=_DATE)
    identity_verified_on = forms.DateField(label="Identity verified on", required=False,
                                           widget=_DATE)  # fmt: skip
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Internal notes. Keep personal data out; notes never enter the evidence.",
    )  # fmt: skip


class CompleteForm(forms.Form):
    completed_on = forms.DateField(label="Completed on", widget=_DATE)
    file = forms.FileField(
        label="Evidence of completion",
        required=False,
        help_text="PDF, PNG, JPEG, plain text/CSV, DOCX or XLSX (the same limits as manual "
        "evidence). The type is checked from the content, not the name.",
    )


class FilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "All")] + [(s, s.title()) for s in STATES],
                              required=False)  # fmt: skip
    kind = forms.ChoiceField(choices=[("", "All kinds"), *DataSubjectRequest.Kind.choices],
                             required=False)  # fmt: skip
