"""The tokens page's form."""

from __future__ import annotations

from django import forms
from django.conf import settings

from pixaudit.api.models import Scope, TokenKind


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “deploy workflow”.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ]
    )
    kind = forms.ChoiceField(choices=TokenKind.choices, initial=TokenKind.PERSONAL)
    expires_in_days = forms.IntegerField(min_value=1, label="Expires in (days)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        maximum = int(getattr(settings, "PIXAUDIT_API_TOKEN_MAX_DAYS", 365))
        self.fields["expires_in_days"].initial = int(
            getattr(settings, "PIXAUDIT_API_TOKEN_DAYS", 90)
        )
        self.fields["expires_in_days"].max_value = maximum
        self.fields["expires_in_days"].help_text = f"At most {maximum} days."
