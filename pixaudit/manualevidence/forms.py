from __future__ import annotations

import re

from django import forms
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import INTERNAL
from pixaudit.evidence.models import ManualKind, ManualRecurrence


class ManualEvidenceForm(forms.Form):
    """Metadata of one manual upload. The file itself is checked by the service.

    Controls come from a picker (``controls_picked``, grouped by framework) and/or typed
    addresses (``controls``); at least one is needed. Validity needs a date or a
    recurrence. The file is optional here because a file kept from an earlier attempt
    (``held``) may stand in for it; the view enforces that one of the two is there.
    """

    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=ManualKind.choices, initial=ManualKind.OTHER)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    effective_on = forms.DateField(
        label="Effective date",
        help_text="When the activity happened (the test, the signature, the training).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    valid_until = forms.DateField(
        label="Valid until",
        required=False,
        help_text="The last day this proof counts. After it, the controls it supports turn "
        "“manual pending” until a newer upload arrives. Leave empty to derive it from the "
        "recurrence.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    recurrence = forms.ChoiceField(
        choices=ManualRecurrence.choices,
        required=False,
        help_text="How often the activity is repeated; without a valid-until date, the proof "
        "counts for one period after the effective date.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        help_text="Who renews this proof; defaults to you.",
    )
    controls_picked = forms.MultipleChoiceField(
        label="From the catalog",
        required=False,
        help_text="Pick one or more (hold Ctrl, or ⌘ on a Mac, to pick several).",
        widget=forms.SelectMultiple(attrs={"size": 10}),
    )
    controls = forms.CharField(
        label="Or type control addresses",
        required=False,
        help_text="Comma or line separated, e.g. soc2-2017:CC4.1, iso27001-2022:A.5.20",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    file = forms.FileField(
        required=False,
        help_text="PDF, PNG, JPEG, plain text/CSV, DOCX or XLSX. The type is checked from the "
        "content, not the name.",
    )

    def __init__(self, *args, control_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(
            role__in=INTERNAL, is_active=True
        ).order_by("username")
        self.fields["effective_on"].initial = timezone.now().date()
        self.fields["controls_picked"].choices = list(control_choices)

    def clean(self):
        data = super().clean()
        if not data.get("valid_until") and not data.get("recurrence"):
            if "valid_until" not in self.errors and "recurrence" not in self.errors:
                self.add_error("valid_until", "Give a valid-until date or choose a recurrence.")
        if not self.addresses() and "controls" not in self.errors:
            self.add_error("controls_picked", "Pick or type at least one control.")
        return data

    def addresses(self) -> list[str]:
        """Picked and typed addresses together, each once, in the order given."""
        data = getattr(self, "cleaned_data", {})
        typed = [a for a in re.split(r"[\s,;]+", data.get("controls") or "") if a]
        return list(dict.fromkeys([*(data.get("controls_picked") or []), *typed]))


class RequirementForm(forms.Form):
    control = forms.CharField(
        label="Control", max_length=100, help_text="Address, e.g. soc2-2017:CC4.1"
    )
    reason = forms.CharField(required=False, max_length=500)
