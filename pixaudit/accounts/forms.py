"""Forms of the accounts app."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from pixaudit.accounts.lockout import lockout_message, login_lockout_active
from pixaudit.auditlog.services import client_ip


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form; a locked username or address gets a clear message instead."""

    def clean(self):
        # A locked account is refused inside authenticate() (LockoutModelBackend), which
        # also records the refusal; only the message differs from a wrong password.
        try:
            return super().clean()
        except forms.ValidationError:
            username = self.cleaned_data.get("username") or ""
            lockout = login_lockout_active(username=username, ip=client_ip(self.request))
            if lockout is None:
                raise
            raise forms.ValidationError(lockout_message(lockout), code="locked") from None


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
        help_text="The 6-digit code from your authenticator app, or a recovery code.",
    )
