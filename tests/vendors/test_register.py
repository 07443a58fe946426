"""The register's verdicts (pure logic): DPA, independent report, reviews, incidents."""

from __future__ import annotations

from datetime import date, timedelta

from collectors.base import Status
from pixaudit.vendors.register import DPA, INCIDENTS, REPORT, REVIEWS, evaluate

TODAY = date(2026, 6, 15)


def _row(name="Acme", **extra):
    row = {
        "resource": f"vendor:{name}", "name": name, "criticality": "medium",
        "processor": False, "dpa_signed_on": None, "dpa_file_sha256": None,
        "dpa_expires_on": None, "dpa_version": None, "report_kind": None,
        "report_file_sha256": None, "report_period_start": None, "report_period_end": None,
        "report_expires_on": None, "report_issuer": None, "last_review_on": None,
        "next_review_on": (TODAY + timedelta(days=30)).isoformat(),
    }  # fmt: skip
    row.update(extra)
    return row


def _verdicts(rows=(), incidents=(), previous=None):
    result = evaluate(rows=rows, incident_rows=incidents, today=TODAY, previous=previous)
    return {(f.assertion_id, f.resource): f for f in result.findings}, result


def test_every_processor_needs_a_signed_dpa_on_file_and_not_expired():
    signed = {"processor": True, "dpa_signed_on": "2025-01-10", "dpa_file_sha256": "a" * 64}
    verdicts, _ = _verdicts([
        _row("None", processor=True),
        _row("NoCopy", processor=True, dpa_signed_on="2025-01-10"),
        _row("Expired", **signed, dpa_expires_on="2026-06-14"),
        _row("Good", **signed, dpa_expires_on="2026-06-15", dpa_version="3"),
        _row("NotProcessor"),
    ])  # fmt: skip
    assert verdicts[(DPA, "vendor:None")].status == Status.FAIL
    assert "no signed DPA" in verdicts[(DPA, "vendor:None")].message
    assert "not on file" in verdicts[(DPA, "vendor:NoCopy")].message
    assert verdicts[(DPA, "vendor:Expired")].status == Status.FAIL
    assert "expired on 2026-06-14" in verdicts[(DPA, "vendor:Expired")].message
    good = verdicts[(DPA, "vendor:Good")]
    assert good.status == Status.PASS and "version 3" in good.message
    assert (DPA, "vendor:NotProcessor") not in verdicts
    assert good.controls == ("soc2-2017:CC9.2", "iso27001-2022:A.5.19", "iso27001-2022:A.5.20")


def test_critical_vendors_need_a_current_independent_report():
    report = {"criticality": "critical", "report_kind": "soc2_type2",
              "report_file_sha256": "b" * 64, "report_period_start": "2025-04-01"}  # fmt: skip
    old_end = (TODAY - timedelta(days=366)).isoformat()
    edge_end = (TODAY - timedelta(days=365)).isoformat()
    verdicts, _ = _verdicts([
        _row("NoReport", criticality="critical"),
        _row("NotOnFile", **{**report, "report_file_sha256": None}, report_period_end="2026-03-31"),
        _row("Old", **{**report, "report_period_start": None}, report_period_end=old_end),
        _row("Edge", **{**report, "report_period_start": None}, report_period_end=edge_end),
        _row("Expired", **{**report, "report_kind": "iso27001"}, report_period_end="2026-03-31",
             report_expires_on="2026-06-01"),
        _row("Backwards", **report, report_period_end="2025-03-31"),
        _row("Current", **report, report_period_end="2026-03-31", report_issuer="Big Four LLP"),
        _row("High", criticality="high"),
    ])  # fmt: skip
    statuses = {r: v.status for (a, r), v in verdicts.items() if a == REPORT}
    assert statuses == {
        "vendor:NoReport": Status.FAIL, "vendor:NotOnFile": Status.FAIL, "vendor:Old": Status.FAIL,
        "vendor:Edge": Status.PASS, "vendor:Expired": Status.FAIL, "vendor:Backwards": Status.FAIL,
        "vendor:Current": Status.PASS,
    }  # fmt: skip
    assert "more than 365 days ago" in verdicts[(REPORT, "vendor:Old")].message
    assert "ISO 27001 certificate expired" in verdicts[(REPORT, "vendor:Expired")].message
    assert "Big Four LLP" in verdicts[(REPORT, "vendor:Current")].message


def test_reviews_not_overdue():
    verdicts, _ = _verdicts([
        _row("Due", next_review_on=TODAY.isoformat()),
        _row("Late", next_review_on=(TODAY - timedelta(days=1)).isoformat()),
        _row("Never", next_review_on=None),
    ])  # fmt: skip
    assert verdicts[(REVIEWS, "vendor:Due")].status == Status.PASS
    assert verdicts[(REVIEWS, "vendor:Late")].status == Status.FAIL
    assert "overdue" in verdicts[(REVIEWS, "vendor:Late")].message
    assert verdicts[(REVIEWS, "vendor:Never")].status == Status.FAIL


def test_incidents_handled_within_our_deadline():
    def incident(n, handled=None, notify_by="2026-06-10"):
        return {"resource": f"vendor:Acme/incident:{n}", "vendor": "Acme", "description": "leak",
                "occurred_on": "2026-06-01", "notified_on": "2026-06-05", "notify_by": notify_by,
                "handled_on": handled}  # fmt: skip

    verdicts, _ = _verdicts([_row()], [
        incident(1, handled="2026-06-10"), incident(2, handled="2026-06-11"), incident(3),
        incident(4, notify_by="2026-06-20"),
    ])  # fmt: skip
    status = {r.rsplit(":", 1)[1]: v.status for (a, r), v in verdicts.items() if a == INCIDENTS}
    assert status == {"1": Status.PASS, "2": Status.FAIL, "3": Status.FAIL, "4": Status.WARN}
    assert "after our deadline" in verdicts[(INCIDENTS, "vendor:Acme/incident:2")].message
    assert "past our deadline" in verdicts[(INCIDENTS, "vendor:Acme/incident:3")].message


def test_verdicts_on_resources_no_longer_judged_are_closed_once():
    previous = {DPA: {"vendor:Gone", "vendor:Acme"}, REVIEWS: {"vendor:Gone"}}
    verdicts, result = _verdicts([_row("Acme")], previous=previous)
    closed = [result.findings[i] for i in sorted(result.resolved)]
    assert {(f.assertion_id, f.resource) for f in closed} == {
        (DPA, "vendor:Gone"), (DPA, "vendor:Acme"), (REVIEWS, "vendor:Gone")}  # fmt: skip
    assert all(f.status == Status.PASS for f in closed)
    assert "no longer a processor" in verdicts[(DPA, "vendor:Acme")].message
