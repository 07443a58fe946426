"""Control owners: assign (service) and look up (selectors), one owner per control."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from pixaudit.accounts.models import Role, User
from pixaudit.auditlog.services import audit_log_record
from pixaudit.controls.models import Control, Framework
from pixaudit.posture.models import ControlOwner

#: Only internal people can be accountable for a control (never an external auditor).
OWNER_ROLES = (Role.ADMIN, Role.COMPLIANCE_MANAGER, Role.ENGINEER)


class OwnershipError(ValueError):
    """The assignment cannot be made (``errors`` per form field)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


def owner_candidates() -> QuerySet[User]:
    """Active internal users, by username."""
    return User.objects.filter(is_active=True, role__in=OWNER_ROLES).order_by("username")


def control_owners(*, framework: Framework) -> dict[int, User]:
    """control id -> owner for every owned control of ``framework`` (one query)."""
    rows = ControlOwner.objects.filter(control__framework=framework).select_related("owner")
    return {row.control_id: row.owner for row in rows}


def control_owner_get(*, control: Control) -> ControlOwner | None:
    return ControlOwner.objects.filter(control=control).select_related("owner").first()


@transaction.atomic
def control_owner_assign(
    *, control: Control, owner: User | None, actor: User, request: Any = None
) -> ControlOwner | None:
    """Make ``owner`` accountable for ``control`` (``None`` removes the owner)."""
    if not control.assessable:
        raise OwnershipError({"owner": f"{control.ref} is a group, not an assessable control."})
    current = ControlOwner.objects.select_for_update().filter(control=control).first()
    previous = current.owner.get_username() if current else None
    if owner is None:
        if current is not None:
            current.delete()
            audit_log_record(
                action="control.owner_removed", obj=control, request=request, actor=actor,
                previous=previous,
            )  # fmt: skip
        return None
    if not owner.is_active or owner.role not in OWNER_ROLES:
        raise OwnershipError({"owner": "Choose an active internal user (not an auditor)."})
    if current is None:
        current = ControlOwner(control=control)
    current.owner, current.assigned_by, current.assigned_at = owner, actor, timezone.now()
    current.save()
    audit_log_record(
        action="control.owner_assigned", obj=control, request=request, actor=actor,
        owner=owner.get_username(), previous=previous,
    )  # fmt: skip
    return current
