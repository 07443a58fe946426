from __future__ import annotations

import re

from django import forms
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import INTERNAL
from pixaudit.evidence.models import ManualKind, ManualRecurrence


class ManualEvidenceForm(forms.Form):
    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=ManualKind.choices, initial=ManualKind.OTHER)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    effective_on = forms.DateField(
        label="Effective date",
        help_text="When the activity happened (the test, the signature, the training).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    valid_until = forms.DateField(
        required=False,
        help_text="When this proof lapses. Leave empty to derive it from the recurrence.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    recurrence = forms.ChoiceField(choices=ManualRecurrence.choices, required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    controls = forms.CharField(
        label="Controls supported",
        help_text="Control addresses, comma or line separated, e.g. soc2-2017:CC4.1, "
        "iso27001-2022:A.5.20",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    file = forms.FileField(
        help_text="PDF, PNG, JPEG, plain text/CSV, DOCX or XLSX. The type is checked from the "
        "content, not the name."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(
            role__in=INTERNAL, is_active=True
        ).order_by("username")
        self.fields["effective_on"].initial = timezone.now().date()

    def addresses(self) -> list[str]:
        return [a for a in re.split(r"[\s,;]+", self.cleaned_data["controls"]) if a]


class RequirementForm(forms.Form):
    control = forms.CharField(
        label="Control", max_length=100, help_text="Address, e.g. soc2-2017:CC4.1"
    )
    reason = forms.CharField(required=False, max_length=500)
