"""What access review evidence asserts: its collector key, assertion ids and controls.

Shared by the campaign lifecycle (``services.campaigns``), the follow-up checks
(``services.followups``) and the mapping of these assertions to controls
(``services.mappings``); it imports nothing of theirs, so none of them import each other for
these names.
"""

from __future__ import annotations

from collectors.base import Finding, Severity, Status

__all__ = [
    "FOLLOWUP_ASSERTION",
    "REVIEW_ASSERTIONS",
    "REVIEW_COLLECTOR_KEY",
    "REVIEW_CONTROLS",
    "review_finding",
]

#: The collector key of the evidence a completed campaign or a follow-up check appends.
REVIEW_COLLECTOR_KEY = "access_review"
#: The controls access review evidence supports.
REVIEW_CONTROLS = ("soc2-2017:CC6.2", "soc2-2017:CC6.3", "iso27001-2022:A.5.18")
#: Every assertion id access review evidence carries.
REVIEW_ASSERTIONS = (
    f"{REVIEW_COLLECTOR_KEY}.completed",
    f"{REVIEW_COLLECTOR_KEY}.revocations_applied",
    f"{REVIEW_COLLECTOR_KEY}.modifications_applied",
)
#: decision -> the assertion (suffix) that checks the decision was applied.
FOLLOWUP_ASSERTION = {"revoke": "revocations_applied", "modify": "modifications_applied"}


def review_finding(assertion: str, resource: str, status: Status, message: str) -> Finding:
    """One finding of access review evidence (``assertion`` without the key prefix)."""
    return Finding(
        assertion_id=f"{REVIEW_COLLECTOR_KEY}.{assertion}",
        resource=resource,
        status=status,
        severity=Severity.HIGH if assertion == "revocations_applied" else Severity.MEDIUM,
        message=message,
        controls=REVIEW_CONTROLS,
    )
