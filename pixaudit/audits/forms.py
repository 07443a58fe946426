"""Forms of the audits app (validation of input only; the services decide)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.audits.models import Engagement, SampleKind, SampleOutcome
from pixaudit.audits.sampling import MAX_SAMPLE_SIZE
from pixaudit.audits.selectors import engagement_evidence_list, identity_populations
from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.selectors import collector_title
from pixaudit.lib.display import format_when
from pixaudit.lib.single_line import validate_single_line
from pixaudit.reports.forms import AwsScopeFields


class DateInput(forms.DateInput):
    input_type = "date"


class EngagementForm(forms.Form):
    name = forms.CharField(
        max_length=200, validators=[validate_single_line], help_text="e.g. SOC 2 Type II 2026"
    )
    frameworks = forms.ModelMultipleChoiceField(
        queryset=Framework.objects.order_by("key"), widget=forms.CheckboxSelectMultiple
    )
    window_start = forms.DateField(
        widget=DateInput, label="Window start", help_text="First day of the observation period."
    )
    window_end = forms.DateField(
        widget=DateInput, label="Window end", help_text="Last day (inclusive)."
    )
    include_privacy_register = forms.BooleanField(
        required=False,
        label="Share the data-subject request register",
        help_text="Off: the register's evidence (references, kinds and dates of data-subject "
        "requests) is left out of everything the auditors see and of their evidence packs.",
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end < start:
            self.add_error("window_end", "The window must end on or after its start.")
        return data


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Auditor's e-mail")
    expires_on = forms.DateField(
        widget=DateInput,
        label="Access ends on",
        required=False,
        help_text="The link and the auditor's access end at the end of this day (UTC). "
        "Leave empty for the default.",
    )

    def clean_expires_on(self):
        value = self.cleaned_data.get("expires_on")
        if value is None:
            return timezone.now() + timedelta(days=settings.PIXAUDIT_INVITATION_DAYS)
        expires = datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)
        if expires <= timezone.now():
            raise forms.ValidationError("Choose a day in the future.")
        return expires


def engagement_controls_queryset(*, engagement: Engagement):
    """The assessable controls of the engagement's frameworks, in catalogue order."""
    return (
        Control.objects.filter(framework__in=engagement.frameworks.all(), assessable=True)
        .exclude(kind=Control.Kind.GROUP)
        .select_related("framework")
        .order_by("framework__key", "sort_order")
    )


class SampleResultForm(forms.Form):
    position = forms.TypedChoiceField(coerce=int, choices=(), label="Item")
    outcome = forms.ChoiceField(
        choices=SampleOutcome.choices, widget=forms.RadioSelect, label="Result"
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000,
        help_text="Required for an exception: what was found.",
    )  # fmt: skip
    file = forms.FileField(
        required=False, label="Attach evidence",
        help_text="PDF, PNG, JPEG, text/CSV, DOCX or XLSX; checked like manual evidence.",
    )  # fmt: skip

    def __init__(self, *args, items: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["position"].choices = [(p, f"{p}. {label}") for p, label in items]

    def clean(self):
        data = super().clean()
        if data.get("outcome") == SampleOutcome.EXCEPTION and not (data.get("note") or "").strip():
            self.add_error("note", "Describe the exception.")
        return data


class EvidenceRequestForm(forms.Form):
    control = forms.ModelChoiceField(queryset=Control.objects.none())
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=4000,
        help_text="What evidence you need, for which period or population.",
    )  # fmt: skip

    def __init__(self, *args, engagement: Engagement, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["control"]
        field.queryset = engagement_controls_queryset(engagement=engagement)
        field.label_from_instance = lambda c: f"{c.framework.name}: {c.ref} — {c.title}"


class AnswerForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    evidence_items = forms.ModelMultipleChoiceField(
        queryset=None, required=False, label="Evidence (collected inside the window)",
        help_text="Hold Ctrl (or Cmd) to choose several.",
    )  # fmt: skip

    def __init__(self, *args, engagement: Engagement, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["evidence_items"]
        field.queryset = engagement_evidence_list(engagement=engagement)
        field.label_from_instance = lambda e: (
            f"Evidence {e.seq} · {collector_title(e.collector_key)} · "
            f"{format_when(e.collected_at)} · {e.sha256[:12]}"
        )


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("accept", "Accept"), ("needs_more", "Needs more")],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Required when you need more.",
    )  # fmt: skip


class SampleForm(forms.Form):
    kind = forms.ChoiceField(choices=SampleKind.choices, widget=forms.RadioSelect, label="Draw")
    collector_key = forms.ChoiceField(
        choices=(), required=False, label="Identity population",
        help_text="Latest evidence of this source inside the window.",
    )  # fmt: skip
    control = forms.ModelChoiceField(
        queryset=Control.objects.none(), required=False, label="Control tested",
        help_text="The control this sample tests; its results show on the control's page.",
    )  # fmt: skip
    size = forms.IntegerField(min_value=1, max_value=MAX_SAMPLE_SIZE, initial=25)
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=2**62,
        help_text="Leave empty for a random seed; it is recorded either way.",
    )  # fmt: skip

    def __init__(self, *args, engagement: Engagement, **kwargs):
        super().__init__(*args, **kwargs)
        self.populations = identity_populations(engagement=engagement)
        control = self.fields["control"]
        control.queryset = engagement_controls_queryset(engagement=engagement)
        control.label_from_instance = lambda c: f"{c.framework.name}: {c.ref} — {c.title}"
        self.fields["collector_key"].choices = [("", "—")] + [
            (p.collector_key, f"{p.title} ({p.evidence.row_count} rows, "
                              f"{p.evidence.collected_at:%Y-%m-%d})")
            for p in self.populations
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("kind") == SampleKind.IDENTITY and not data.get("collector_key"):
            self.add_error("collector_key", "Choose the population to sample.")
        return data


class AcceptInvitationForm(forms.Form):
    password1 = forms.CharField(
        label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )  # fmt: skip
    password2 = forms.CharField(
        label="Password again", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            candidate = User(username=self.email, email=self.email, role=Role.AUDITOR)
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class EngagementReportForm(AwsScopeFields):
    """Which of the engagement's frameworks to report on (the period is the window), and
    optionally one AWS account or OU to limit it to."""

    field_order = ["framework"]

    framework = forms.ModelChoiceField(
        queryset=Framework.objects.none(), to_field_name="key", empty_label=None
    )

    def __init__(self, *args, engagement: Engagement, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["framework"]
        field.queryset = engagement.frameworks.order_by("key")
        if field.queryset.count() == 1:
            field.widget = forms.HiddenInput()
            field.initial = field.queryset.first().key
