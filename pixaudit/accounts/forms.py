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


def _internal_role_choices() -> list[tuple[str, str]]:
    from pixaudit.accounts.services import INTERNAL_ROLES

    return [(role.value, role.label) for role in INTERNAL_ROLES]


class UserInviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    username = forms.CharField(
        label="Username",
        max_length=150,
        required=False,
        help_text="Leave empty to use the part of the address before the @.",
    )
    role = forms.ChoiceField(label="Role", choices=_internal_role_choices)


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=_internal_role_choices)


class InvitationAcceptForm(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters; not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data
