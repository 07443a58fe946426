"""OSCAL export validated against NIST's official JSON schemas (see schemas/README.md)."""

from __future__ import annotations

import copy

import pytest

from pixaudit.reports.services import oscal_export, report_scope_resolve
from tests.reports.oscal_schema import errors

pytestmark = pytest.mark.smoke


def test_assessment_results_and_catalog_validate(scope, collected):
    catalog, results = oscal_export(scope=scope)
    assert errors(catalog, "catalog") == []
    assert errors(results, "assessment-results") == []

    result = results["assessment-results"]["results"][0]
    assert len(result["observations"]) == len(collected)
    hrefs = [
        link["href"]
        for res in results["assessment-results"]["back-matter"]["resources"]
        for link in res.get("rlinks", [])
    ]
    assert any(h.startswith("controls/CC6.1/evidence/") for h in hrefs)
    finding = next(f for f in result["findings"] if f["target"]["target-id"] == "cc6.1")
    assert finding["target"]["status"]["state"] == "not-satisfied"
    assert len(finding["related-observations"]) == len(collected)

    ids = set()

    def walk(node):
        for c in node.get("controls", []):
            ids.add(c["id"])
            walk(c)
        for g in node.get("groups", []):
            walk(g)

    walk(catalog["catalog"])
    assert {"cc6.1", "a1.2", "p8.1"} <= ids
    reviewed = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert {c["control-id"] for c in reviewed} <= ids


def test_iso_ids_follow_the_oscal_rules(catalogs):
    scope = report_scope_resolve(framework_key="iso27001-2022")
    catalog, results = oscal_export(scope=scope)
    assert errors(catalog, "catalog") == []
    assert errors(results, "assessment-results") == []
    text = str(catalog)
    assert "'a.5.1'" in text and "'cl-4.1'" in text and "'cl-6.1.2'" in text


def test_the_validator_rejects_bad_documents(scope):
    catalog, _ = oscal_export(scope=scope)
    bad = copy.deepcopy(catalog)
    bad["catalog"]["groups"][0]["controls"][0]["id"] = "has space"
    del bad["catalog"]["metadata"]["oscal-version"]
    problems = errors(bad, "catalog")
    assert any("oscal-version" in p for p in problems)
    assert any("has space" in p for p in problems)
