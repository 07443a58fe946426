"""Forms of the reports app's scope pages (input validation only; services decide)."""

from __future__ import annotations

from django import forms

from pixaudit.reports.models import OPTIONAL_CATEGORIES


class DateInput(forms.DateInput):
    input_type = "date"


def _text(label: str, help_text: str = "", rows: int = 5, required: bool = False):
    return forms.CharField(
        label=label, required=required, help_text=help_text, strip=True,
        widget=forms.Textarea(attrs={"rows": rows}),
    )  # fmt: skip


class ReportScopeForm(forms.Form):
    system_description = _text(
        "System description", "The services, infrastructure, software, people, procedures and "
        "data the report covers.", rows=8, required=True,
    )  # fmt: skip
    boundaries = _text("System boundaries", "What is inside the system and what is not.")
    availability = forms.BooleanField(required=False, label="Availability")
    confidentiality = forms.BooleanField(required=False, label="Confidentiality")
    processing_integrity = forms.BooleanField(required=False, label="Processing integrity")
    privacy = forms.BooleanField(required=False, label="Privacy")
    subservice_organisations = _text(
        "Subservice organisations", "One per line: who, what they provide, carve-out or "
        "inclusive method."
    )  # fmt: skip
    complementary_user_entity_controls = _text(
        "Complementary user entity controls",
        "Controls your customers must operate for the criteria to be met, one per line.",
    )
    management_assertion = _text("Management assertion", rows=8)
    signatory_name = forms.CharField(label="Signatory", max_length=200, required=False)
    signatory_title = forms.CharField(label="Signatory's title", max_length=200, required=False)
    assertion_date = forms.DateField(label="Assertion date", required=False, widget=DateInput)

    category_fields = tuple(c.value for c in OPTIONAL_CATEGORIES)

    def __init__(self, *args, soc2: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not soc2:
            for name in self.category_fields:
                del self.fields[name]


class NarrativeForm(forms.Form):
    text = forms.CharField(
        label="How the organisation performs this control", strip=True,
        widget=forms.Textarea(attrs={"rows": 10}), max_length=20_000,
        help_text="Who does what, how often, with which tool, and what evidence it leaves. "
        "Saving keeps the previous version in the history.",
    )  # fmt: skip


class AwsScopeFields(forms.Form):
    """Optional limit of a report to one AWS account or one OU (report forms).

    The choices are the overview filter's: the accounts some AWS integration collects and
    the OUs above them (``awsorg.selectors.known_accounts`` / ``known_ous``). The form only
    reads the choice; ``reports.services.aws_scope_check`` decides (unknown account or OU,
    both at once) and the view shows its message on the form.
    """

    aws_account = forms.CharField(label="AWS account", required=False, max_length=12)
    aws_ou = forms.CharField(label="or AWS OU", required=False, max_length=80)

    def __init__(self, *args, **kwargs):
        from pixaudit.awsorg.selectors import known_accounts, known_ous

        super().__init__(*args, **kwargs)
        accounts = known_accounts()
        self.aws_choices = bool(accounts)
        if not accounts:  # no AWS integration account: nothing to choose, fields hidden
            for name in ("aws_account", "aws_ou"):
                self.fields[name].widget = forms.HiddenInput()
            return
        self.fields["aws_account"].widget = forms.Select(choices=[("", "Every account")] + accounts)
        self.fields["aws_ou"].widget = forms.Select(choices=[("", "Every OU")] + known_ous())
        self.fields["aws_account"].help_text = (
            "Optional: limit the report to one AWS account or one OU. Other accounts' AWS "
            "results and evidence are left out; everything else is kept."
        )

    def aws_scope_error(self, message: str) -> None:
        """Show a refused scope (``ReportScopeError``) on the field it is about."""
        field = "aws_ou" if message.startswith("OU ") else "aws_account"
        self.add_error(field, message[:1].upper() + message[1:] + ".")
