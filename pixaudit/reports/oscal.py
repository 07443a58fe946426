"""OSCAL export: a framework's catalog and the assessment results of a period.

Documents follow the OSCAL 1.2.3 JSON schemas published by NIST (tests validate against
the official schema files). Identifiers follow the project's rules: OSCAL ids may not start
with a digit, so ``CC6.1 -> cc6.1``, ``A.5.1 -> a.5.1``, ``4.1 -> cl-4.1``
(``Control.oscal_id``). Titles are pixaudit's own short titles, never the publishers' text.

Mapping to the model:

- one **observation** per evidence item in the period (method TEST, collected/expires from
  the item, ``relevant-evidence`` pointing at the artifact's path(s) inside the evidence
  pack, with its SHA-256 as a back-matter resource hash);
- one **finding** per assessable control, targeting the control (``objective-id``) with
  ``satisfied`` when it passes at the end of the period and ``not-satisfied`` otherwise; the
  pixaudit status is kept as a property, and the finding relates the observations of the
  evidence that tested the control.

UUIDs are version 5, derived from stable keys, so exporting the same data twice yields the
same identifiers.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pixaudit.controls.models import Control, Framework
from pixaudit.evidence.canonical import format_datetime
from pixaudit.reports.selectors import ReportData

OSCAL_VERSION = "1.2.3"
NS = "https://pixaudit.dev/ns/oscal"
CATALOG_PATH = "oscal/catalog.json"
RESULTS_PATH = "oscal/assessment-results.json"
_ROOT = uuid.UUID("9b0f3a52-3c1e-5e0b-9d1a-6a8f7c2e4b10")


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(_ROOT, "/".join(str(p) for p in parts)))


def _ts(value: datetime) -> str:
    """OSCAL date-time-with-timezone; the canonical evidence form already is one."""
    return format_datetime(value)


def dumps(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- Catalog --------------------------------------------------------------------------------


def _control_node(control: Control, children: dict[int | None, list[Control]]) -> dict:
    node: dict[str, Any] = {
        "id": control.oscal_id,
        "title": control.title,
        "props": [{"name": "label", "value": control.ref}],
    }
    if control.kind == Control.Kind.REQUIREMENT:
        node["class"] = "requirement"
    elif control.is_group:
        node["class"] = "group"
    if not control.assessable:
        node["props"].append({"name": "assessable", "ns": NS, "value": "false"})
    nested = [_control_node(c, children) for c in children.get(control.pk, [])]
    if nested:
        node["controls"] = nested
    return node


def _group_node(group: Control, children: dict[int | None, list[Control]]) -> dict:
    node: dict[str, Any] = {
        "id": group.oscal_id,
        "title": group.title,
        "props": [{"name": "label", "value": group.ref}],
    }
    kids = children.get(group.pk, [])
    if any(c.is_group for c in kids) and not all(c.is_group for c in kids):
        # An OSCAL group holds groups or controls, never both (e.g. ISO clause 6: group 6.1
        # beside requirements 6.2 and 6.3): the sub-group becomes a control nesting its own.
        node["controls"] = [_control_node(c, children) for c in kids]
        return node
    subgroups = [_group_node(c, children) for c in kids if c.is_group]
    controls = [_control_node(c, children) for c in kids if not c.is_group]
    if subgroups:
        node["groups"] = subgroups
    if controls:
        node["controls"] = controls
    return node


def catalog_document(*, framework: Framework, now: datetime) -> dict[str, Any]:
    """The framework as an OSCAL catalog: groups and controls with pixaudit's titles."""
    controls = list(Control.objects.filter(framework=framework).order_by("sort_order"))
    children: dict[int | None, list[Control]] = {}
    for control in controls:
        children.setdefault(control.parent_id, []).append(control)
    roots = children.get(None, [])
    catalog: dict[str, Any] = {
        "uuid": _uuid("catalog", framework.key, framework.source_sha256),
        "metadata": {
            "title": f"{framework.name} (pixaudit catalog)",
            "last-modified": _ts(framework.loaded_at),
            "version": framework.version,
            "oscal-version": OSCAL_VERSION,
            "props": [{"name": "framework-key", "ns": NS, "value": framework.key}],
            "remarks": framework.copyright or "Identifiers and pixaudit's own short titles.",
        },
    }
    groups = [_group_node(c, children) for c in roots if c.is_group]
    loose = [_control_node(c, children) for c in roots if not c.is_group]
    if groups:
        catalog["groups"] = groups
    if loose:
        catalog["controls"] = loose
    return {"catalog": catalog}


# --- Assessment results -------------------------------------------------------------------


def _state(status: str) -> str:
    return "satisfied" if status == "passing" else "not-satisfied"


def _add_coverage(finding: dict[str, Any], coverage) -> None:
    """The control's coverage over the period (``pixaudit.posture.coverage``): props and a
    sentence, the same figures the report's Coverage section prints."""
    if coverage.tested:
        finding["description"] += (
            f" Coverage over the period: {coverage.coverage_display} of in-scope days"
            f" ({coverage.days_passing} passing, {coverage.days_failing} failing,"
            f" {coverage.days_without_evidence} without evidence:"
            f" {coverage.without_evidence_text})."
        )
    else:
        finding["description"] += " Not tested: no evidence in the period."
    finding["props"] += [
        {"name": "coverage", "ns": NS, "value": coverage.coverage_display},
        {"name": "days-passing", "ns": NS, "value": str(coverage.days_passing)},
        {"name": "days-failing", "ns": NS, "value": str(coverage.days_failing)},
        {"name": "days-error", "ns": NS, "value": str(coverage.days_error)},
        {"name": "days-without-evidence", "ns": NS, "value": str(coverage.days_without_evidence)},
        {"name": "days-not-applicable", "ns": NS, "value": str(coverage.days_not_applicable)},
        {"name": "days-risk-accepted", "ns": NS, "value": str(coverage.days_risk_accepted)},
    ]


def assessment_results_document(
    *, data: ReportData, evidence_paths: dict[int, list[str]]
) -> dict[str, Any]:
    """Observations from evidence items, findings from control status (see module doc)."""
    key: tuple[Any, ...] = (
        data.framework.key, data.period.start, data.period.end, data.chain_head_hash
    )  # fmt: skip
    scope = data.aws_scope
    if scope is not None:  # another document than the unscoped one: other UUIDs
        key += ("aws", scope.account, scope.ou)
    suffix = f" ({scope.label})" if scope is not None else ""
    observations = []
    resources = []
    observation_of: dict[int, str] = {}
    for item in data.evidence:
        obs_uuid = _uuid("observation", item.sha256, item.id)
        observation_of[item.id] = obs_uuid
        paths = evidence_paths.get(item.id, [])
        res_uuid = _uuid("resource", item.sha256, item.id)
        observation: dict[str, Any] = {
            "uuid": obs_uuid,
            "title": f"Evidence item {item.seq}: {item.collector_key}",
            "description": (
                f"Automated collection by {item.collector_key}"
                + (f" ({item.connection_name})" if item.connection_name else "")
                + f": {item.row_count} rows, {item.findings_count} assertion results."
            ),
            "props": [
                {"name": "evidence-seq", "ns": NS, "value": str(item.seq)},
                {"name": "sha256", "ns": NS, "value": item.sha256},
                {"name": "chain-hash", "ns": NS, "value": item.chain_hash},
            ],
            "methods": ["TEST"],
            "types": ["control-objective"],
            "collected": _ts(item.collected_at),
            "expires": _ts(item.expires_at),
        }
        if paths:
            observation["relevant-evidence"] = [
                {"href": f"#{res_uuid}", "description": "Raw artifact in the evidence pack."}
            ]
            resources.append(
                {
                    "uuid": res_uuid,
                    "title": f"Artifact of evidence item {item.seq}",
                    "rlinks": [
                        {
                            "href": path,
                            "media-type": "application/json",
                            "hashes": [{"algorithm": "SHA-256", "value": item.sha256}],
                        }
                        for path in paths
                    ],
                }
            )
        else:
            observation["relevant-evidence"] = [
                {"description": "Collected in the period; not mapped to this framework."}
            ]
        observations.append(observation)

    findings = []
    coverage_of = {c.control.pk: c for c in data.coverage.controls} if data.coverage else {}
    for section in data.sections:
        ref = section.control.ref
        finding: dict[str, Any] = {
            "uuid": _uuid("finding", *key, ref),
            "title": f"{ref} {section.control.title}",
            "description": (
                f"Status at the end of the period: {section.status_label}. "
                f"Results: {section.totals['pass']} pass, {section.totals['fail']} fail, "
                f"{section.totals['warn']} warn, {section.totals['error']} error over "
                f"{section.collections} collections."
            ),
            "props": [{"name": "pixaudit-status", "ns": NS, "value": section.status}],
            "target": {
                "type": "objective-id",
                "target-id": section.control.oscal_id,
                "status": {"state": _state(section.status)},
            },
        }
        coverage = coverage_of.get(section.control.pk)
        if coverage is not None:
            _add_coverage(finding, coverage)
        related = [
            {"observation-uuid": observation_of[e.id]}
            for e in section.evidence
            if e.id in observation_of
        ]
        if related:
            finding["related-observations"] = related
        findings.append(finding)

    ap_uuid = _uuid("assessment-plan", *key)
    catalog_uuid = _uuid("catalog-resource", *key)
    resources.append(
        {
            "uuid": ap_uuid,
            "title": "Continuous automated assessment",
            "description": (
                "pixaudit assesses continuously; there is no separate assessment plan. The "
                "scope is the framework's catalog and the period of these results"
                + (f", limited to {scope.label}." if scope is not None else ".")
            ),
        }
    )
    resources.append(
        {
            "uuid": catalog_uuid,
            "title": f"{data.framework.name} catalog",
            "rlinks": [{"href": "catalog.json", "media-type": "application/oscal+json"}],
        }
    )
    result: dict[str, Any] = {
        "uuid": _uuid("result", *key),
        "title": f"{data.framework.name}: {data.period}{suffix}",
        "description": (
            f"Automated evidence for {data.org_name} from {data.period.start} to "
            f"{data.period.end} (UTC). Evidence chain head: item {data.chain_head_seq}, "
            f"{data.chain_head_hash}." + (f" {scope.statement}" if scope is not None else "")
        ),
        "start": _ts(data.period.since),
        "end": _ts(data.period.until),
        "props": [
            {"name": "chain-head", "ns": NS, "value": data.chain_head_hash},
            {"name": "framework-key", "ns": NS, "value": data.framework.key},
            *(
                [
                    {"name": name, "ns": NS, "value": value}
                    for name, value in (
                        ("aws-account", scope.account),
                        ("aws-ou", scope.ou),
                        ("aws-scope", scope.label),
                    )
                    if value
                ]
                if scope is not None
                else []
            ),
            *(
                [
                    {"name": "coverage", "ns": NS, "value": data.coverage.coverage_display},
                    {
                        "name": "controls-not-tested",
                        "ns": NS,
                        "value": str(data.coverage.controls_not_tested),
                    },
                ]
                if data.coverage
                else []
            ),
        ],
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": s.control.oscal_id} for s in data.sections]}
            ]
        },
    }
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": _uuid("assessment-results", *key, data.generated_at.isoformat()),
            "metadata": {
                "title": f"{data.framework.name} assessment results, {data.period}{suffix}",
                "last-modified": _ts(data.generated_at),
                "version": data.version,
                "oscal-version": OSCAL_VERSION,
                "links": [{"href": f"#{catalog_uuid}", "rel": "reference"}],
                "props": [{"name": "organisation", "ns": NS, "value": data.org_name}],
            },
            "import-ap": {"href": f"#{ap_uuid}"},
            "results": [result],
            "back-matter": {"resources": resources},
        }
    }
