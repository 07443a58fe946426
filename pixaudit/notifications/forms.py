from __future__ import annotations

from django import forms

from pixaudit.notifications.events import EVENTS
from pixaudit.notifications.models import EndpointKind

_EVENT_CHOICES = list(EVENTS.items())


class PreferenceForm(forms.Form):
    email_events = forms.MultipleChoiceField(
        choices=_EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="E-mail me at once about",
    )
    digest = forms.BooleanField(
        required=False, label="Send me a daily digest of everything that concerned me"
    )


class EndpointForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=EndpointKind.choices)
    url = forms.CharField(max_length=500, label="URL", help_text="HTTPS only.")
    events = forms.MultipleChoiceField(choices=_EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)


class EndpointUpdateForm(forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.CharField(
        max_length=500, label="URL", help_text="HTTPS only. A new URL gets a new signing secret."
    )
    events = forms.MultipleChoiceField(choices=_EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)
    enabled = forms.BooleanField(required=False)
