"""The integration form: plain fields that the services validate (errors come back per field)."""

from __future__ import annotations

from typing import Any

from django import forms

from pixaudit.awsorg.models import AwsIntegration, IntegrationMode
from pixaudit.awsorg.services.config import SECRET_NAMES, aws_collectors

_SECRET_LABELS = {
    "access_key_id": "Access key id",
    "secret_access_key": "Secret access key",
    "session_token": "Session token",
}


def _split(text: str) -> list[str]:
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


def _tags(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _split(text):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip() or "*"
    return out


class IntegrationForm(forms.Form):
    """Create or change an AWS integration."""

    name = forms.CharField(max_length=100)
    mode = forms.ChoiceField(choices=IntegrationMode.choices, widget=forms.RadioSelect)
    collectors = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Each is its own collector and evidence item, with its own freshness.",
    )
    access_key_id = forms.CharField(required=False, widget=forms.PasswordInput)
    secret_access_key = forms.CharField(required=False, widget=forms.PasswordInput)
    session_token = forms.CharField(required=False, widget=forms.PasswordInput)
    profile = forms.CharField(required=False, help_text="Named AWS profile instead of keys.")
    role_arn = forms.CharField(
        required=False,
        help_text="One account: the role to assume. Organisation: a role in the management "
        "account to list the accounts with (member roles are assumed with the keys above).",
    )
    external_id = forms.CharField(required=False, help_text="External id of role_arn's trust.")
    regions = forms.CharField(
        required=False, help_text="Comma-separated (default: every enabled region)."
    )
    member_role_name = forms.CharField(
        required=False, initial="pixaudit-readonly", help_text="Organisation: role in each member."
    )
    member_external_id = forms.CharField(
        required=False, help_text="Organisation: external id the member roles require."
    )
    include_ids = forms.CharField(required=False, label="Only these account ids")
    exclude_ids = forms.CharField(required=False, label="Skip these account ids")
    include_ous = forms.CharField(required=False, label="Only accounts under these OUs")
    exclude_ous = forms.CharField(required=False, label="Skip accounts under these OUs")
    include_tags = forms.CharField(required=False, label="Only accounts tagged (key=value)")
    exclude_tags = forms.CharField(required=False, label="Skip accounts tagged (key=value)")
    schedule_minutes = forms.IntegerField(initial=1440, min_value=5, label="Run every (minutes)")
    max_parallel_accounts = forms.IntegerField(
        initial=0, min_value=0, max_value=10_000, required=False,
        label="Accounts collected at once",
        help_text="Over all workers, per run (0: as many as there are workers; each worker "
        "collects one account, or one account's region, at a time).",
    )  # fmt: skip

    def __init__(self, *args: Any, integration: AwsIntegration | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["collectors"].choices = [(c.key, c.title) for c in aws_collectors()]
        for name in SECRET_NAMES:
            self.fields[name].label = _SECRET_LABELS.get(name, name)
            if integration is not None and name in integration.secrets:
                self.fields[name].help_text = "Stored; leave blank to keep it."
        if integration is None:
            self.fields["collectors"].initial = [c.key for c in aws_collectors()]
            self.fields["mode"].initial = IntegrationMode.ORGANIZATION
        else:
            params, rules = integration.params, integration.account_rules
            self.initial.update(
                name=integration.name, mode=integration.mode,
                collectors=integration.collectors, profile=params.get("profile", ""),
                role_arn=params.get("role_arn", ""), external_id=params.get("external_id", ""),
                regions=", ".join(params.get("regions") or []),
                member_role_name=integration.member_role_name,
                member_external_id=integration.member_external_id,
                schedule_minutes=integration.schedule_minutes,
                max_parallel_accounts=integration.max_parallel_accounts,
                **{k: ", ".join(rules.get(k) or []) for k in
                   ("include_ids", "exclude_ids", "include_ous", "exclude_ous")},
                **{k: ", ".join(f"{a}={b}" for a, b in (rules.get(k) or {}).items())
                   for k in ("include_tags", "exclude_tags")},
            )  # fmt: skip

    def service_kwargs(self) -> dict[str, Any]:
        """The cleaned data shaped for ``aws_integration_create``/``_update``."""
        d = self.cleaned_data
        return {
            "name": d["name"], "mode": d["mode"], "collectors": d["collectors"],
            "params": {"profile": d["profile"], "role_arn": d["role_arn"],
                       "external_id": d["external_id"], "regions": _split(d["regions"])},
            "member_role_name": d["member_role_name"] or "pixaudit-readonly",
            "member_external_id": d["member_external_id"],
            "account_rules": {
                **{k: _split(d[k]) for k in
                   ("include_ids", "exclude_ids", "include_ous", "exclude_ous")},
                **{k: _tags(d[k]) for k in ("include_tags", "exclude_tags")},
            },
            "schedule_minutes": d["schedule_minutes"],
            "max_parallel_accounts": d.get("max_parallel_accounts") or 0,
            "secrets": {k: d[k] for k in SECRET_NAMES if d.get(k)},
        }  # fmt: skip

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Show the service's errors on their fields (or on the form)."""
        for key, message in errors.items():
            field = key if key in self.fields else None
            if key == "account_rules":
                field = None
            self.add_error(field, message)
