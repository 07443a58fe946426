from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.accounts.permissions import INTERNAL
from pixaudit.evidence.selectors import collector_title
from pixaudit.lib.display import format_when
from pixaudit.lib.single_line import validate_single_line
from pixaudit.reviews.models import Recurrence
from pixaudit.reviews.services.population import reviewable_connections


class CampaignForm(forms.Form):
    connection = forms.ChoiceField(
        label="Identity population",
        help_text="The latest collection of this connection is snapshotted and sealed.",
    )
    name = forms.CharField(max_length=200, validators=[validate_single_line])
    due_on = forms.DateField(label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    recurrence = forms.ChoiceField(choices=Recurrence.choices, required=False)
    reviewers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        help_text="Review every account unless an account gets its own reviewer.",
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources = {str(c.pk): (c, item) for c, item in reviewable_connections()}
        self.fields["connection"].choices = [
            (pk, f"{c.name} ({collector_title(c.collector_key)}, "
                 f"collected {format_when(item.collected_at)})")
            for pk, (c, item) in self.sources.items()
        ]  # fmt: skip
        self.fields["reviewers"].queryset = User.objects.filter(
            role__in=INTERNAL, is_active=True
        ).order_by("username")
        if not self.is_bound:
            self.initial.setdefault("due_on", timezone.now().date() + timedelta(days=14))
            self.initial.setdefault("recurrence", Recurrence.QUARTERLY)

    def clean_connection(self):
        return self.sources[self.cleaned_data["connection"]][0]
