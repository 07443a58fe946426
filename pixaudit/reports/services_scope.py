"""Writes of what the organisation states in its reports: scope versions and narratives.

Both are append-only: saving adds a version (the newest is current, older ones stay for
the reports that printed them). Each save is audit-logged with what changed. Bad input
raises ``ValidationError`` keyed by field; nothing is written then.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Control, Framework
from pixaudit.reports.models import OPTIONAL_CATEGORIES, ControlNarrative, ScopeStatement
from pixaudit.reports.selectors_scope import control_narratives, scope_statement_current

__all__ = ["NARRATIVE_MAX", "SCOPE_TEXT_FIELDS", "control_narrative_save", "scope_statement_save"]

NARRATIVE_MAX = 20_000
TEXT_MAX = 50_000
SCOPE_TEXT_FIELDS = (
    "system_description",
    "boundaries",
    "subservice_organisations",
    "complementary_user_entity_controls",
    "management_assertion",
    "signatory_name",
    "signatory_title",
)
_CATEGORY_FIELDS = tuple(c.value for c in OPTIONAL_CATEGORIES)


def _clean_scope(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name in SCOPE_TEXT_FIELDS:
        text = str(values.get(name) or "").replace("\r\n", "\n").strip()
        limit = 200 if name.startswith("signatory") else TEXT_MAX
        if len(text) > limit:
            errors[name] = f"Keep this under {limit} characters."
        out[name] = text
    for name in _CATEGORY_FIELDS:
        out[name] = bool(values.get(name))
    assertion_date = values.get("assertion_date")
    if assertion_date is not None and not isinstance(assertion_date, date):
        errors["assertion_date"] = "Give a date."
    out["assertion_date"] = assertion_date
    if not out["system_description"]:
        errors["system_description"] = "Describe the system the report covers."
    if out["management_assertion"]:
        if not out["signatory_name"]:
            errors["signatory_name"] = "Name who signs the management assertion."
        if assertion_date is None:
            errors["assertion_date"] = "Give the date of the management assertion."
    if isinstance(assertion_date, date) and assertion_date > timezone.now().date():
        errors["assertion_date"] = "The assertion cannot be dated in the future."
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def scope_statement_save(
    *,
    framework: Framework,
    actor: User,
    request: HttpRequest | None = None,
    **values: Any,
) -> ScopeStatement:
    """Record a new version of ``framework``'s scope statement (Security is always in scope;
    the four optional Trust Services categories are booleans)."""
    cleaned = _clean_scope(values)
    previous = scope_statement_current(framework=framework)
    if previous is not None:
        changed = [k for k, v in cleaned.items() if getattr(previous, k) != v]
        if not changed:
            raise ValidationError("Nothing changed since the current version.")
    else:
        changed = sorted(k for k, v in cleaned.items() if v)
    scope = ScopeStatement.objects.create(framework=framework, author=actor, **cleaned)
    audit_log_record(actor=actor, action="scope_statement.saved", obj=scope, request=request,
                     framework=framework.key, changed=changed, categories=scope.categories,
                     previous_version=previous.pk if previous else None)  # fmt: skip
    return scope


@transaction.atomic
def control_narrative_save(
    *, control: Control, text: str, actor: User, request: HttpRequest | None = None
) -> ControlNarrative:
    """Record a new version of how the organisation performs ``control``."""
    text = (text or "").replace("\r\n", "\n").strip()
    if control.is_group or not control.assessable:
        raise ValidationError({"text": f"{control.ref} is a group; describe its controls."})
    if not text:
        raise ValidationError({"text": "Describe how the control is performed."})
    if len(text) > NARRATIVE_MAX:
        raise ValidationError({"text": f"Keep the narrative under {NARRATIVE_MAX} characters."})
    previous = control_narratives(controls=[control]).get(control.pk)
    if previous is not None and previous.text == text:
        raise ValidationError({"text": "The narrative is unchanged."})
    narrative = ControlNarrative.objects.create(control=control, text=text, author=actor)
    audit_log_record(actor=actor, action="control_narrative.saved", obj=narrative,
                     request=request, control=control.address, length=len(text),
                     previous_version=previous.pk if previous else None)  # fmt: skip
    return narrative
