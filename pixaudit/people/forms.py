"""Forms of the people pages (validation beyond shape lives in the services)."""

from __future__ import annotations

from django import forms

from pixaudit.lib.single_line import validate_single_line
from pixaudit.people.models import AccountDeclaration


class DeclarationForm(forms.Form):
    resource = forms.CharField(
        max_length=500, label="Account",
        help_text="The account's resource as findings name it (e.g. org:acme/user:deploy-bot).",
    )  # fmt: skip
    kind = forms.ChoiceField(choices=AccountDeclaration.Kind.choices)
    employee_id = forms.CharField(
        max_length=100, required=False, label="Employee id",
        help_text="The person, or the service account's owner (blank: no owner).",
    )  # fmt: skip
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class AliasForm(forms.Form):
    alias = forms.CharField(max_length=300, help_text="Another e-mail address or a login.")
    employee_id = forms.CharField(max_length=100, label="Employee id")


class UploadForm(forms.Form):
    connection = forms.ChoiceField(label="HR connection")
    file = forms.FileField(help_text="CSV or XLSX: employee_id, name, work_email, status, "
                           "start_date, termination_date, manager (optional).")  # fmt: skip

    def __init__(self, *args, connections=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.connections = {str(c.pk): c for c in connections}
        self.fields["connection"].choices = [(pk, c.name) for pk, c in self.connections.items()]


class RunForm(forms.Form):
    leaver_days = forms.IntegerField(
        min_value=0, max_value=365, initial=1, label="Days allowed to disable a leaver's accounts"
    )
    joiner_grace_days = forms.IntegerField(
        min_value=0, max_value=365, initial=0,
        label="Days an account may exist before its person starts",
    )  # fmt: skip


class ReviewForm(forms.Form):
    connection = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, validators=[validate_single_line])
    due_on = forms.DateField(label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
