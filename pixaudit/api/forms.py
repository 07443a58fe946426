"""The tokens page's form."""

from __future__ import annotations

from django import forms
from django.conf import settings

from pixaudit.api.models import Scope, TokenKind
from pixaudit.evidence.models import Connection
from pixaudit.evidence.services.connections import push_collector_keys


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “deploy workflow”.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ]
    )
    kind = forms.ChoiceField(choices=TokenKind.choices, initial=TokenKind.PERSONAL)
    expires_in_days = forms.IntegerField(min_value=1, label="Expires in (days)")
    push_connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        required=False,
        label="Only push to",
        empty_label="(not restricted)",
        help_text="A push connection: the token then only pushes evidence there "
        "(choose the write:evidence scope alone).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        maximum = int(getattr(settings, "PIXAUDIT_API_TOKEN_MAX_DAYS", 365))
        self.fields["expires_in_days"].initial = int(
            getattr(settings, "PIXAUDIT_API_TOKEN_DAYS", 90)
        )
        self.fields["expires_in_days"].max_value = maximum
        self.fields["expires_in_days"].help_text = f"At most {maximum} days."
        self.fields["push_connection"].queryset = Connection.objects.filter(
            collector_key__in=push_collector_keys()
        ).order_by("name")
