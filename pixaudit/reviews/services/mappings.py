"""Map the access review assertions to their controls (as system mapping overrides).

No collector declares ``access_review.*``; the mapping is added through the catalog's own
override mechanism (``MappingOverride`` "add", made by the system), once per pair and never
over an organisation's explicit decision about that pair.
"""

from __future__ import annotations

from pixaudit.controls.models import CheckMapping, Control, MappingOverride
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.reviews.assertions import REVIEW_ASSERTIONS, REVIEW_CONTROLS

__all__ = ["review_mappings_ensure"]

REASON = "Access review campaign evidence (pixaudit.reviews): periodic review of user access."


def review_mappings_ensure() -> int:
    """Add missing mappings; returns how many were added. Unknown controls are skipped."""
    added = 0
    for address in REVIEW_CONTROLS:
        try:
            control = control_get_by_address(address)
        except Control.DoesNotExist:
            continue
        for assertion_id in REVIEW_ASSERTIONS:
            if CheckMapping.objects.filter(assertion_id=assertion_id, control=control).exists():
                continue
            if MappingOverride.objects.filter(assertion_id=assertion_id, control=control).exists():
                continue
            MappingOverride.objects.create(
                assertion_id=assertion_id,
                control=control,
                action=MappingOverride.Action.ADD,
                reason=REASON,
                created_by=None,
            )
            added += 1
    return added
