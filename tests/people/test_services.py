"""The leaver test over real evidence: HR upload, identity evidence, mapping table, pages."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from pixaudit.auditlog.models import AuditEvent
from pixaudit.controls.models import MappingOverride
from pixaudit.evidence.models import Connection, EvidenceItem, Finding
from pixaudit.evidence.services.append import evidence_append
from pixaudit.evidence.storage import artifact_read
from pixaudit.people.lifecycle import LEAVERS, OWNED
from pixaudit.people.services import (
    PeopleError,
    alias_save,
    declaration_save,
    hr_upload,
    lifecycle_run,
    review_start,
)
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


def _csv(today) -> bytes:  # type: ignore[no-untyped-def]
    left = today - timedelta(days=3)
    return (
        "employee_id,name,work_email,status,start_date,termination_date,manager\n"
        "E1,Alice Admin,alice@acme.example,active,2021-03-01,,\n"
        f"E2,Dan Leaver,dan@acme.example,terminated,2019-05-06,{left},Alice Admin\n"
        f"E3,Carol Rehire,carol@acme.example,active,{today - timedelta(days=60)},"
        f"{today - timedelta(days=400)},Alice Admin\n"
    ).encode()


def _gh(login: str, email: str | None = None, status: str = "active") -> dict:
    return {"account_id": login, "display_name": login, "email": email, "privileges": ["member"],
            "is_privileged": False, "mfa_enabled": True, "last_activity_at": None,
            "status": status, "source": "github:acme", "resource": f"org:acme/user:{login}",
            "kind": "member"}  # fmt: skip


@pytest.fixture
def world(media_root, catalogs, users):  # type: ignore[no-untyped-def]
    now = timezone.now()
    seen = now - timedelta(hours=1)
    hr = Connection.objects.create(name="HR export", collector_key="hris_people",
                                   params={"provider": "file"})  # fmt: skip
    # Dates count from the day the accounts were seen (an hour ago), so that a run just after
    # midnight still finds Dan active 3 days after his termination.
    hr_upload(connection=hr, filename="people.csv", data=_csv(seen.date()), user=users.manager)
    gh = Connection.objects.create(name="GitHub acme", collector_key="github_org", params={})
    rows = [_gh("alice-gh", "alice@acme.example"), _gh("dan-gh", "dan@acme.example"),
            _gh("carol-gh", "carol@acme.example"), _gh("deploy-bot"), _gh("ci-bot"),
            _gh("mallory")]  # fmt: skip
    evidence_append(collector_key="github_org", document={"rows": rows}, connection_id=gh.pk,
                    collected_at=seen, expires_at=now + timedelta(days=1),
                    rows_count=len(rows))  # fmt: skip
    declaration_save(resource="org:acme/user:deploy-bot", kind="service", employee_id="E1",
                     user=users.manager)  # fmt: skip
    declaration_save(resource="org:acme/user:ci-bot", kind="service", user=users.manager)
    return users


def _statuses(item: EvidenceItem, assertion: str) -> dict[str, str]:
    return dict(Finding.objects.filter(evidence=item, assertion_id=assertion)
                .values_list("resource", "status"))  # fmt: skip


def test_run_appends_findings_with_their_evidence(world) -> None:
    item = lifecycle_run(user=world.manager)
    assert _statuses(item, LEAVERS) == {"org:acme/user:dan-gh": "fail"}
    assert _statuses(item, OWNED) == {
        "org:acme/user:alice-gh": "pass",
        "org:acme/user:carol-gh": "pass",  # rehired: current
        "org:acme/user:deploy-bot": "pass",  # service account with an owner
        "org:acme/user:ci-bot": "fail",  # service account without owner
        "org:acme/user:mallory": "fail",  # nobody's
    }
    dan = Finding.objects.get(evidence=item, assertion_id=LEAVERS)
    hr_item = EvidenceItem.objects.get(collector_key="hris_people")
    gh_item = EvidenceItem.objects.get(collector_key="github_org")
    assert f"evidence #{hr_item.seq} (hris_people, HR export" in dan.message
    assert f"evidence #{gh_item.seq} (github_org, GitHub acme" in dan.message
    assert "3 days after the termination date (limit 1)" in dan.message
    assert dan.controls and "soc2-2017:CC6.2" in dan.controls
    event = AuditEvent.objects.filter(action="people.lifecycle_run").latest("pk")
    assert event.details["failing"] == 3
    assert MappingOverride.objects.filter(assertion_id=LEAVERS).exists()


def test_mapping_table_and_aliases_change_the_answer(world) -> None:
    declaration_save(resource="org:acme/user:mallory", kind="person", employee_id="E1",
                     user=world.manager)  # fmt: skip
    alias_save(alias="CI-Bot", employee_id="E1", user=world.manager)
    item = lifecycle_run(user=world.manager)
    statuses = _statuses(item, OWNED)
    assert statuses["org:acme/user:mallory"] == "pass"
    assert statuses["org:acme/user:ci-bot"] == "fail"  # the declaration wins over the alias
    assert AuditEvent.objects.filter(action="people.declaration_saved").count() == 3
    assert AuditEvent.objects.filter(action="people.alias_saved").count() == 1


def test_bad_input_is_refused_clearly(world) -> None:
    with pytest.raises(PeopleError, match="Name the person's employee id"):
        declaration_save(resource="org:acme/user:x", kind="person", user=world.manager)
    hr = Connection.objects.get(collector_key="hris_people")
    before = EvidenceItem.objects.count()
    with pytest.raises(PeopleError) as info:
        hr_upload(connection=hr, filename="bad.csv", user=world.manager,
                  data=b"employee_id,name,work_email,status,start_date,termination_date\n"
                       b"1,A,a@acme.example,active,2021-01-01,\n1,B,,gone,,\n")  # fmt: skip
    assert info.value.lines == [
        (3, "employee_id 1 repeats line 2"),
        (3, "status 'gone' is not one of active, on_leave, terminated"),
        (3, "start_date is empty"),
    ]
    assert EvidenceItem.objects.count() == before


def test_without_hr_evidence_the_run_says_what_is_missing(media_root, catalogs, users) -> None:
    with pytest.raises(PeopleError, match="No HR evidence yet"):
        lifecycle_run(user=users.manager)


def test_pages(world) -> None:
    lifecycle_run(user=world.manager)
    manager = client_for(world.manager, verified=True)
    page = manager.get("/people/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Dan Leaver" in text and "dan-gh" in text and "3 days after" in text
    assert "mallory" in text
    assert client_for(world.engineer).get("/people/").status_code == 200
    assert client_for(world.auditor).get("/people/").status_code == 403
    bad = SimpleUploadedFile("hr.csv", b"employee_id,name\n1,A\n", content_type="text/csv")
    hr = Connection.objects.get(collector_key="hris_people")
    response = manager.post("/people/hr-upload/", {"connection": str(hr.pk), "file": bad})
    assert response.status_code == 400
    assert "Line 1: missing column(s)" in response.content.decode()
    alias = {"action": "alias", "a-alias": "dan.l@acme.example", "a-employee_id": "E2"}
    response = manager.post("/people/mappings/", alias)
    assert response.status_code == 302
    response = manager.post("/people/run/", {"leaver_days": "5", "joiner_grace_days": "0"})
    assert response.status_code == 302
    latest = EvidenceItem.objects.filter(collector_key="identity_lifecycle").latest("seq")
    document = json.loads(artifact_read(latest.artifact_path))
    assert document["thresholds"] == {"leaver_days": 5, "joiner_grace_days": 0}
    assert {"alias": "dan.l@acme.example", "employee_id": "E2"} in document["aliases"]
    # Dan is within 5 days: still active, before the deadline
    assert _statuses(latest, LEAVERS) == {"org:acme/user:dan-gh": "warn"}


def test_access_review_of_accounts_without_an_active_person(world) -> None:
    gh = Connection.objects.get(collector_key="github_org")
    with pytest.raises(PeopleError, match="Run the leaver test first"):
        review_start(connection=gh, name="x", due_on=timezone.now().date(), user=world.manager)
    lifecycle_run(user=world.manager)
    manager = client_for(world.manager, verified=True)
    due = (timezone.now().date() + timedelta(days=14)).isoformat()
    response = manager.post("/people/review/", {"connection": gh.pk, "name": "Nobody's accounts",
                                                "due_on": due})  # fmt: skip
    assert response.status_code == 302
    from pixaudit.reviews.models import Campaign

    campaign = Campaign.objects.get(name="Nobody's accounts")
    assert sorted(campaign.entries.values_list("account_id", flat=True)) == ["dan-gh", "mallory"]
    assert AuditEvent.objects.filter(action="review.campaign_start").exists()


def test_daily_job_runs_the_test_once_hr_evidence_exists(media_root, catalogs, users) -> None:
    from pixaudit.people.jobs import people_daily_job

    assert people_daily_job() == {"skipped": "no HR evidence"}
    hr = Connection.objects.create(name="HR", collector_key="hris_people", params={})
    hr_upload(connection=hr, filename="people.csv", data=_csv(timezone.now().date()))
    result = people_daily_job()
    item = EvidenceItem.objects.get(collector_key="identity_lifecycle")
    assert result == {"evidence": item.seq, "accounts": 0}


def test_results_reach_posture_under_the_mapped_controls(world) -> None:
    from pixaudit.controls.selectors import control_get_by_address
    from pixaudit.posture.selectors import control_posture, control_results

    lifecycle_run(user=world.manager)
    posture = control_posture(control=control_get_by_address("soc2-2017:CC6.2"))
    assert LEAVERS in posture.assertion_ids and OWNED in posture.assertion_ids
    assert posture.status == "failing"
    current = {(r.assertion_id, r.resource): r.status for r in control_results(
        assertion_ids=[LEAVERS, OWNED])}  # fmt: skip
    assert current[(LEAVERS, "org:acme/user:dan-gh")] == "fail"
    assert current[(OWNED, "org:acme/user:deploy-bot")] == "pass"


def test_the_report_lists_the_leaver_test_as_evidence_of_cc6_2(world) -> None:
    from pixaudit.controls.models import Framework
    from pixaudit.reports.periods import Period
    from pixaudit.reports.selectors import report_data

    item = lifecycle_run(user=world.manager)
    today = timezone.now().date()
    data = report_data(framework=Framework.objects.get(key="soc2-2017"),
                       period=Period(today - timedelta(days=1), today))  # fmt: skip
    section = next(s for s in data.sections if s.control.ref == "CC6.2")
    leavers = next(a for a in section.assertions if a.assertion_id == LEAVERS)
    assert leavers.counts.get("fail") == 1
    assert [f.resource for f in leavers.failing] == ["org:acme/user:dan-gh"]
    assert item.pk in {e.id for e in section.evidence}


def test_a_removed_orphan_no_longer_fails(world) -> None:
    from pixaudit.posture.selectors import control_results

    lifecycle_run(user=world.manager)
    gh = Connection.objects.get(collector_key="github_org")
    now = timezone.now()
    rows = [_gh("alice-gh", "alice@acme.example")]
    evidence_append(collector_key="github_org", document={"rows": rows}, connection_id=gh.pk,
                    collected_at=now, expires_at=now + timedelta(days=1), rows_count=1)  # fmt: skip
    lifecycle_run(user=world.manager)
    current = {r.resource: r.status for r in control_results(assertion_ids=[OWNED])}
    assert current["org:acme/user:mallory"] == "pass"
    third = lifecycle_run(user=world.manager)  # closed once: not repeated for ever
    assert not Finding.objects.filter(evidence=third, resource="org:acme/user:mallory").exists()
    out = io.StringIO()
    call_command("verify_evidence", stdout=out)  # raises when the chain or state is off
    assert "OK" in out.getvalue()


def test_command(world) -> None:
    out = io.StringIO()
    call_command("people_leaver_test", "--leaver-days", "1", stdout=out)
    item = EvidenceItem.objects.filter(collector_key="identity_lifecycle").latest("seq")
    assert (
        out.getvalue().strip()
        == f"evidence #{item.seq}: 6 accounts, 3 pass, 3 fail, 0 warn, 0 error"
    )
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="whole days"):
        call_command("people_leaver_test", "--leaver-days", "-1")


def test_a_subset_campaign_is_diffed_against_the_same_subset(world) -> None:
    from pixaudit.reviews.models import ReviewEntry
    from pixaudit.reviews.services import campaign_complete, campaign_start

    gh = Connection.objects.get(collector_key="github_org")
    due = timezone.now().date() + timedelta(days=7)
    full = campaign_start(connection=gh, name="Everyone", due_on=due, user=world.manager)
    ReviewEntry.objects.filter(campaign=full).update(decision="keep", decided_by=world.manager,
                                                     decided_at=timezone.now())  # fmt: skip
    campaign_complete(campaign=full, user=world.manager)
    lifecycle_run(user=world.manager)
    subset = review_start(connection=gh, name="Nobody's", due_on=due, user=world.manager)
    assert subset.snapshot_count == 2
    # The four accounts outside the subset are not "removed"; the two inside are unchanged.
    assert subset.diff["removed"] == []
    assert subset.diff["unchanged"] == 2
