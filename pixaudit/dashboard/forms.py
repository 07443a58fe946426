"""Dashboard forms. The connection form is generated from the collector's declared params.

Forms only shape input; validation of params is the evidence services' job (they report per
field through ``ConnectionParamsError.errors``, which :meth:`ConnectionForm.add_service_errors`
attaches to the matching fields). Secret params are write-only: their inputs never render a
value, and a blank secret keeps the stored one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms

from collectors import Collector, Param
from pixaudit.evidence.models import Connection
from pixaudit.evidence.selectors import collector_title

PARAM_PREFIX = "p_"
CLEAR_PREFIX = "clear_"
THRESHOLDS_FIELD = "thresholds"


def _initial(param: Param, value: Any) -> Any:
    if value is None:
        return ""
    if param.type == "json":
        return json.dumps(value, indent=2, sort_keys=True)
    if param.type == "list":
        return ", ".join(str(v) for v in value)
    if param.type == "boolean":
        return "true" if value else "false"
    return value


def _default_text(param: Param) -> str:
    if param.secret or param.default is None:
        return ""
    return f"Default: {_initial(param, param.default)}."


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name")
    schedule_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        label="Run every (minutes)",
        help_text="Leave empty to follow the collector's freshness window.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(
        self,
        *args: Any,
        collector: type[Collector],
        connection: Connection | None = None,
        secrets_set: list[str] | tuple[str, ...] = (),
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.collector = collector
        self.connection = connection
        self.secrets_set = set(secrets_set)
        stored = dict(connection.params) if connection is not None else {}
        if getattr(collector, "push", False):
            # Evidence arrives by API: nothing to schedule, nothing to run.
            del self.fields["schedule_minutes"]
            self.fields["enabled"].help_text = "While disabled, pushes to it are refused."
        if connection is not None:
            self.initial.update(
                name=connection.name,
                schedule_minutes=connection.schedule_minutes,
                enabled=connection.enabled,
            )
        if self.tunable_assertions:
            self.fields[THRESHOLDS_FIELD] = forms.CharField(
                required=False,
                label="Assertion thresholds",
                widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
                help_text='JSON: {"<assertion id>": {"<threshold>": value}}. Leave empty for '
                "the defaults. The thresholds each assertion takes are listed below.",
            )
            if connection is not None and connection.thresholds:
                self.initial[THRESHOLDS_FIELD] = json.dumps(
                    connection.thresholds, indent=2, sort_keys=True
                )
        for param in collector.params:
            self.fields[PARAM_PREFIX + param.name] = self._field(param)
            if not param.secret and param.name in stored:
                self.initial[PARAM_PREFIX + param.name] = _initial(param, stored[param.name])
            if param.secret and param.name in self.secrets_set:
                self.fields[CLEAR_PREFIX + param.name] = forms.BooleanField(
                    required=False, label=f"Remove the stored {param.name}"
                )

    def _field(self, param: Param) -> forms.Field:
        help_parts = [param.help, _default_text(param)]
        required = param.required
        destinations = [p.name for p in self.collector.params if p.destination and not p.secret]
        has_secrets = any(p.secret for p in self.collector.params)
        if param.destination and has_secrets and not param.secret:
            help_parts.append(
                "It decides where the secrets are sent: changing it requires re-entering "
                "them, and a URL must start with https://."
            )
        if param.secret:
            stored = param.name in self.secrets_set
            help_parts.append(
                "A value is stored; leave blank to keep it." if stored else "Stored encrypted."
            )
            if stored and destinations:
                help_parts.append(f"Re-enter it when you change {', '.join(destinations)}.")
            required = param.required and not stored
            field: forms.Field = forms.CharField(
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
            )
        elif param.choices:
            choices = [(str(c), str(c)) for c in param.choices]
            if not param.required:
                choices = [("", "Default")] + choices
            field = forms.ChoiceField(choices=choices)
        elif param.type == "boolean":
            field = forms.ChoiceField(choices=[("", "Default"), ("true", "Yes"), ("false", "No")])
        elif param.type == "json":
            field = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}))
        elif param.type in ("integer", "float"):
            step = "1" if param.type == "integer" else "any"
            field = forms.CharField(widget=forms.NumberInput(attrs={"step": step}))
        else:
            if param.type == "list":
                help_parts.append("Separate values with commas.")
            field = forms.CharField()
        field.required = required
        field.label = param.name.replace("_", " ").capitalize()
        field.help_text = " ".join(part for part in help_parts if part)
        field.param = param  # type: ignore[attr-defined]
        return field

    @property
    def tunable_assertions(self) -> list[Any]:
        """The collector's assertions that take thresholds (what the thresholds field accepts)."""
        return [a for a in self.collector.assertions if a.params]

    @property
    def threshold_docs(self) -> list[dict[str, Any]]:
        """Each tunable assertion with its thresholds (name, type, default as JSON, help)."""
        return [
            {
                "id": a.id,
                "title": a.title,
                "params": [
                    {
                        "name": p.name,
                        "type": p.type,
                        "default": "" if p.default is None else json.dumps(p.default),
                        "help": p.help,
                    }
                    for p in a.params
                ],
            }
            for a in self.tunable_assertions
        ]

    def clean_thresholds(self) -> dict[str, Any]:
        """The thresholds as an object (``{}`` when empty); the services check the keys."""
        text = (self.cleaned_data.get(THRESHOLDS_FIELD) or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object: {"<assertion id>": {...}}.')
        return value

    def thresholds_payload(self) -> Any:
        """Thresholds for the services, or ``None`` when the collector takes none."""
        if THRESHOLDS_FIELD not in self.fields:
            return None
        return self.cleaned_data.get(THRESHOLDS_FIELD) or {}

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(PARAM_PREFIX)]

    def params_payload(self, *, for_update: bool = False) -> dict[str, Any]:
        """Values for the services: blanks omitted on create, sent as unset on update."""
        payload: dict[str, Any] = {}
        for param in self.collector.params:
            value = self.cleaned_data.get(PARAM_PREFIX + param.name)
            blank = value is None or (isinstance(value, str) and not value.strip())
            if blank:
                if for_update and not param.secret:
                    payload[param.name] = None
                continue
            payload[param.name] = value
        return payload

    def secrets_to_clear(self) -> list[str]:
        return [
            p.name
            for p in self.collector.params
            if p.secret and self.cleaned_data.get(CLEAR_PREFIX + p.name)
        ]

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Attach ``ConnectionParamsError.errors`` to the matching fields."""
        for key, message in errors.items():
            if key in ("name", "schedule_minutes"):
                self.add_error(key, message)
            elif key.split(".", 1)[0] == THRESHOLDS_FIELD and THRESHOLDS_FIELD in self.fields:
                where = key.split(".", 1)[1] if "." in key else ""
                self.add_error(THRESHOLDS_FIELD, f"{where}: {message}" if where else message)
            elif PARAM_PREFIX + key in self.fields:
                self.add_error(PARAM_PREFIX + key, message)
            else:
                self.add_error(None, f"{key}: {message}")


class ApplicabilityForm(forms.Form):
    applicable = forms.ChoiceField(
        choices=[("yes", "Applicable"), ("no", "Not applicable")],
        widget=forms.RadioSelect,
        label="Applicability",
    )
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Justification",
        help_text="Why the control is included or excluded. Required when not applicable.",
    )

    def add_service_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            self.add_error(key if key in self.fields else None, message)


class OwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=None, required=False, label="Owner", empty_label="No owner"
    )

    def __init__(self, *args: Any, candidates: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = candidates


class PeriodForm(forms.Form):
    """A period by collection date (UTC days; ``until`` inclusive)."""

    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(since, until)`` datetimes: since inclusive, until exclusive (next midnight)."""
        if not self.is_valid():
            return None, None
        since = self.cleaned_data.get("since")
        until = self.cleaned_data.get("until")
        return (
            datetime.combine(since, time.min, tzinfo=UTC) if since else None,
            datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC) if until else None,
        )


class EvidenceFilterForm(PeriodForm):
    collector = forms.ChoiceField(required=False, label="Collector")
    resource = forms.CharField(required=False, max_length=500, label="Resource contains")
    status = forms.ChoiceField(
        required=False,
        label="Finding status",
        choices=[("", "Any status"), ("pass", "Pass"), ("fail", "Fail"), ("warn", "Warn"),
                 ("error", "Error")],
    )  # fmt: skip

    def __init__(self, *args: Any, collector_keys: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["collector"].choices = [("", "All collectors")] + sorted(
            ((k, collector_title(k)) for k in collector_keys), key=lambda c: c[1].lower()
        )
