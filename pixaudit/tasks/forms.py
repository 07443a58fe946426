"""Task forms (validation of fields; rules live in the services)."""

from __future__ import annotations

from django import forms

from pixaudit.accounts.models import User
from pixaudit.posture.ownership import owner_candidates
from pixaudit.tasks.models import TaskKind


class _AssigneeField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.get_username()} ({obj.get_role_display()})"


def _assignee(required: bool = False) -> forms.ModelChoiceField:
    return _AssigneeField(
        queryset=owner_candidates(), required=required, label="Assignee", empty_label="Nobody yet"
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    kind = forms.ChoiceField(
        choices=[(TaskKind.OTHER, "Other"), (TaskKind.REMEDIATION, "Remediation")],
        initial=TaskKind.OTHER,
    )
    assignee = _assignee()
    due_on = forms.DateField(
        required=False, label="Due on", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = owner_candidates()


class AssignForm(forms.Form):
    assignee = _assignee()
    due_on = forms.DateField(
        required=False, label="Due on", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = owner_candidates()


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Mention someone with @username to notify them.",
    )


class CloseForm(forms.Form):
    note = forms.CharField(
        label="What was done", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(label="Why reopen", max_length=500)


class AttachForm(forms.Form):
    file = forms.FileField(label="Attachment", help_text="PDF, PNG, JPEG, text/CSV, DOCX or XLSX.")
