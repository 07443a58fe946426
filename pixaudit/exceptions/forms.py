from __future__ import annotations

from django import forms

from pixaudit.controls.models import Framework
from pixaudit.exceptions.selectors import SEVERITIES, STATUSES
from pixaudit.posture.ownership import owner_candidates


class FilterForm(forms.Form):
    """The register's filters (read by ``selectors.filters_from_query``; this form renders)."""

    status = forms.ChoiceField(
        required=False, choices=[("", "Any")] + [(s, s.capitalize()) for s in STATUSES]
    )
    severity = forms.ChoiceField(
        required=False, choices=[("", "Any")] + [(s, s.capitalize()) for s in SEVERITIES]
    )
    control = forms.CharField(
        required=False, max_length=100, label="Control",
        widget=forms.TextInput(attrs={"placeholder": "soc2-2017:CC6.1"}),
    )  # fmt: skip
    framework = forms.ChoiceField(required=False, label="Framework (controls without evidence)")
    past_deadline = forms.BooleanField(required=False, label="Past deadline only")
    since = forms.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    until = forms.DateField(required=False, label="To",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip

    def __init__(self, *args, engagement: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if engagement:
            del self.fields["framework"]  # the engagement's frameworks
        else:
            choices = Framework.objects.order_by("key").values_list("key", "name")
            self.fields["framework"].choices = [("", "First framework")] + list(choices)


class UpdateForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=owner_candidates(), required=False, label="Remediation owner",
        empty_label="Default (the control's owner)",
    )  # fmt: skip
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AcceptanceRequestForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why accept the risk")
    expires_on = forms.DateField(label="Accepted until (inclusive)",
                                 widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip


class AcceptanceDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
