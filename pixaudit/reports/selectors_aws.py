"""The AWS side of a report: its scope (one AWS account or OU) and its per-account breakdown.

Split from ``reports.selectors`` (which imports from here, never the other way: the layering
test forbids the cycle), so the report's read stays readable. The report's own types
(``EvidencePin``, ``EvidenceRow``, ``AssertionResult``, ``ControlSection``) are taken as
``Any`` for that reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pixaudit.exceptions.acceptances import accepted_failures


@dataclass(frozen=True)
class AwsReportScope:
    """A report limited to one AWS account or one OU.

    ``excluded``: the AWS integration connections outside the scope, whose evidence,
    results, run failures, risk acceptances and exceptions leave the report (from the
    overview's own filter, ``awsorg.selectors.aws_scope``). Connections that no AWS
    integration owns are never excluded: non-AWS controls and evidence stay unchanged.
    """

    account: str
    ou: str
    label: str
    excluded: frozenset[int]

    def as_log(self) -> dict[str, str]:
        return {"account": self.account, "ou": self.ou, "label": self.label}

    @property
    def statement(self) -> str:
        """The scope in one paragraph, as the report's cover and scope chapter and the OSCAL
        assessment results say it."""
        return (
            f"This report is limited to {self.label}: the results, failing resources, "
            "evidence, coverage by day, collection failures, risk acceptances and exceptions "
            "that AWS integrations collected from other AWS accounts are left out of every "
            "chapter. Controls, evidence and results not collected by an AWS integration "
            "(other sources, manual evidence, access reviews) are kept unchanged, and so is "
            "the Statement of Applicability."
        )


def aws_report_scope(
    *, account: str = "", ou: str = "", label: str = "", pin: Any = None
) -> AwsReportScope | None:
    """The scope of a report limited to ``account`` or ``ou`` (None when neither is given).

    A rendered report's ``pin`` says which connections it left out; otherwise they are read
    now through ``aws_scope`` (the overview's ``?account=``/``?ou=`` filter) and
    ``aws_connections_outside``."""
    from pixaudit.awsorg.selectors import aws_connections_outside, aws_scope, aws_scope_label

    if not account and not ou:
        return None
    if pin is not None and pin.aws_excluded is not None:
        return AwsReportScope(account, ou, label or account or ou, frozenset(pin.aws_excluded))
    scope = aws_scope(account, ou)
    return AwsReportScope(
        account, ou, label or aws_scope_label(scope), frozenset(aws_connections_outside(scope))
    )


def aws_collector_keys(evidence: list[Any]) -> set[str]:
    """Collector keys whose assertions are AWS checks: the registered AWS collectors and
    any collector an AWS integration's connection collected in the period."""
    from collectors import registry
    from pixaudit.awsorg.models import AwsAccountConnection

    registry.discover()
    keys = {cls.key for cls in registry.all_collectors() if cls.source == "aws"}
    linked = set(AwsAccountConnection.objects.values_list("connection_id", flat=True))
    keys.update(e.collector_key for e in evidence if e.connection_id in linked)
    return keys


def accepted_outside(
    results: dict[str, Any], at: datetime, seq: int, excluded: frozenset[int]
) -> dict[str, int]:
    """``accepted_failures`` per assertion, without the risk acceptances of excluded
    connections (a report limited to one AWS account or OU; one query either way)."""
    if not excluded:
        return accepted_failures(assertion_ids=results, at=at, up_to_seq=seq)
    out: dict[str, int] = defaultdict(int)
    per = accepted_failures(assertion_ids=results, at=at, up_to_seq=seq, by_connection=True)
    for (assertion_id, connection_id), n in per.items():
        if connection_id not in excluded:
            out[assertion_id] += n
    return dict(out)


def aws_breakdown(sections: list[Any]) -> list[Any]:
    """The AWS controls' end-of-period results per AWS account (``AccountCounts`` with the
    refs of the controls failing or in error there), worst accounts first. Only results
    from the connections of an AWS integration count; the account and OU path of a result
    follow from its connection (``pixaudit.awsorg.selectors``; the OU path is the one the
    integration's last listing saw)."""
    from pixaudit.awsorg.selectors import account_breakdown, connection_places

    rows: list[tuple[int | None, str, int]] = []
    failing: dict[int | None, list[str]] = defaultdict(list)
    for section in sections:
        for result in section.assertions:
            for connection_id, counts in result.by_connection.items():
                rows.extend((connection_id, status, n) for status, n in counts.items())
                bad = counts.get("fail", 0) + counts.get("error", 0)
                if bad and section.control.ref not in failing[connection_id]:
                    failing[connection_id].append(section.control.ref)
    accounts = account_breakdown(rows)
    places = connection_places(failing)
    by_account: dict[str, list[str]] = defaultdict(list)
    for connection_id, refs in failing.items():
        place = places.get(connection_id) if connection_id is not None else None
        if place is not None:
            by_account[place.account_id].extend(
                r for r in refs if r not in by_account[place.account_id]
            )
    order = {s.control.ref: i for i, s in enumerate(sections)}
    for entry in accounts:
        entry.controls_failing = sorted(by_account.get(entry.account_id, []), key=order.get)
    return accounts
