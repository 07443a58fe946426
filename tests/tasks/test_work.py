"""Comments with @mentions, attachments, evidence requests, daily sync of product tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from pixaudit.notifications.models import Notification
from pixaudit.tasks import services
from pixaudit.tasks.automation import tasks_daily_sync
from pixaudit.tasks.models import Task, TaskKind, TaskStatus
from tests.security.helpers import pdf_make

pytestmark = pytest.mark.django_db


def test_mentions_notify_the_people_named(users, django_capture_on_commit_callbacks):
    task = services.task_create(title="Rotate the deploy key", actor=users.manager)
    body = (
        f"@{users.engineer.username} can you take this? cc @nobody-here, @{users.auditor.username}"
    )
    with django_capture_on_commit_callbacks(execute=True):
        comment = services.task_comment_add(task=task, author=users.manager, body=body)
    assert list(comment.mentions.all()) == [users.engineer]  # auditors and unknowns ignored
    note = Notification.objects.get(event="task.mentioned")
    assert list(note.recipients.all()) == [users.engineer]
    assert [m.to for m in mail.outbox] == [[users.engineer.email]]


def test_attachments_are_validated_like_manual_evidence(users, media_root):
    task = services.task_create(title="Pen test follow-up", actor=users.manager)
    exe = SimpleUploadedFile("report.pdf", b"MZ\x90\x00" + b"\x00" * 200)
    with pytest.raises(ValidationError) as exc:
        services.task_attachment_add(task=task, upload=exe, file_name="report.pdf",
                                     actor=users.manager)  # fmt: skip
    assert "file" in exc.value.message_dict
    assert not task.attachments.exists()
    pdf = SimpleUploadedFile("report.pdf", pdf_make("retest"))
    attachment = services.task_attachment_add(task=task, upload=pdf, file_name="../report.pdf",
                                              actor=users.manager)  # fmt: skip
    assert attachment.file_name == "report.pdf" and attachment.content_type == "application/pdf"
    assert (media_root / attachment.path).read_bytes().startswith(b"%PDF")


def test_assignment_refuses_auditors_and_notifies_the_assignee(
    users, django_capture_on_commit_callbacks
):
    task = services.task_create(title="Collect badge logs", actor=users.manager)
    with pytest.raises(ValidationError):
        services.task_assign(task=task, assignee=users.auditor, due_on=None, actor=users.manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.task_assign(task=task, assignee=users.engineer, actor=users.manager,
                             due_on=timezone.now().date() + timedelta(days=3))  # fmt: skip
    assert [m.to for m in mail.outbox] == [[users.engineer.email]]
    assert "Collect badge logs" in mail.outbox[0].subject


def test_evidence_request_task_assigned_then_answered(world, django_capture_on_commit_callbacks):
    from pixaudit.audits.services import evidence_request_answer, evidence_request_review

    task = Task.objects.get(source_key=f"request:{world.request.pk}")
    assert task.kind == TaskKind.EVIDENCE_REQUEST and task.assignee is None
    assert Notification.objects.filter(event="request.opened",
                                       payload__request=world.request.pk).count() == 1  # fmt: skip
    services.task_assign(task=task, assignee=world.engineer, due_on=None, actor=world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        evidence_request_answer(evidence_request=world.request, actor=world.manager,
                                note="Attached the review.")  # fmt: skip
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    answered = Notification.objects.get(event="request.answered")
    assert list(answered.recipients.all()) == [world.auditor]
    assert world.auditor.email in [m.to[0] for m in mail.outbox]
    evidence_request_review(evidence_request=world.request, actor=world.auditor, accept=False,
                            note="Need March too.")  # fmt: skip
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_daily_sync_reviews_manual_and_commitments_once(world):
    reviews = Task.objects.filter(kind=TaskKind.ACCESS_REVIEW)
    # Made when the campaign started (review_tasks_sync); the daily sync makes any missing.
    assert reviews.count() == 2
    reviews.delete()
    first = tasks_daily_sync()
    assert first["review_tasks"] == 2  # the manager and the engineer each have decisions
    assert Task.objects.filter(kind=TaskKind.ACCESS_REVIEW, assignee=world.engineer).count() == 1
    assert first["commitment_tasks"] > 0
    later = world.manual.valid_until - timedelta(days=3)
    expiring = tasks_daily_sync(today=later)
    assert expiring["manual_tasks"] == 1
    assert Notification.objects.filter(event="evidence.expiring").count() == 1
    again = tasks_daily_sync(today=later)
    assert again == {"review_tasks": 0, "manual_tasks": 0, "commitment_tasks": 0,
                     "overdue": again["overdue"]}  # fmt: skip
    assert Notification.objects.filter(event="evidence.expiring").count() == 1
    # Every decision made: the review tasks resolve themselves.
    world.campaign.entries.update(decision="keep")
    tasks_daily_sync(today=later)
    assert not Task.objects.filter(kind=TaskKind.ACCESS_REVIEW, status="open").exists()


def test_overdue_notice_once_per_due_date(users):
    task = services.task_create(title="Old work", actor=users.manager, assignee=users.engineer,
                                due_on=timezone.now().date() - timedelta(days=1))  # fmt: skip
    assert tasks_daily_sync()["overdue"] == 1
    assert tasks_daily_sync()["overdue"] == 0
    assert task.overdue()


def test_request_page_lets_the_manager_pick_who_answers(world):
    from django.urls import reverse

    from tests.security.helpers import client_for

    url = reverse("audits:request_detail", args=[world.engagement.pk, world.request.pk])
    page = client_for(world.manager).get(url).content.decode()
    task = Task.objects.get(source_key=f"request:{world.request.pk}")
    assert "Nobody is assigned yet" in page and f"/tasks/{task.pk}/" in page
    assert "Who answers it" not in client_for(world.auditor).get(url).content.decode()
    overview = client_for(world.manager).get(reverse("tasks:my_work"))
    assert overview.status_code == 200


def test_attachment_over_the_limit_is_refused_while_it_streams(world, settings):
    from django.urls import reverse

    from tests.security.helpers import client_for

    settings.PIXAUDIT_MANUAL_MAX_BYTES = 4096
    client = client_for(world.engineer)
    url = reverse("tasks:task_attach", args=[world.task.pk])
    big = SimpleUploadedFile("big.pdf", pdf_make("x") + b"0" * 10_000, "application/pdf")
    response = client.post(url, {"file": big})
    assert response.status_code == 413
    assert "larger than the" in response.content.decode()
    assert world.task.attachments.count() == 1  # only the fixture's
    small = SimpleUploadedFile("small.pdf", pdf_make("y"), "application/pdf")
    assert client.post(url, {"file": small}).status_code == 302
    assert world.task.attachments.count() == 2


def test_review_tasks_appear_when_the_campaign_starts_and_follow_assignments(
    world, django_assert_max_num_queries
):
    from pixaudit.accounts.models import Role
    from pixaudit.reviews.services import entry_assign
    from pixaudit.tasks.automation import review_tasks_sync
    from tests.security.helpers import user_make

    campaign = world.campaign
    reviews = Task.objects.filter(kind=TaskKind.ACCESS_REVIEW, campaign=campaign)
    # No daily sync has run: starting the campaign made one task per reviewer.
    open_tasks = reviews.filter(status=TaskStatus.OPEN)
    assert sorted(open_tasks.values_list("assignee__username", flat=True)) == sorted(
        [world.manager.username, world.engineer.username]
    )
    assert {t.due_on for t in open_tasks} == {campaign.due_on}
    assert all(t.source_key.startswith(f"review:{campaign.pk}:") for t in open_tasks)
    # Every entry assigned to the manager: the engineer has nothing left to decide.
    entries = list(campaign.entries.all())
    for entry in entries:
        entry_assign(entry=entry, reviewer=world.manager, user=world.manager)
    assert list(open_tasks.values_list("assignee", flat=True)) == [world.manager.pk]
    # One entry for a new reviewer: their task is there at once.
    newcomer = user_make(Role.ENGINEER, "reviewer-newcomer")
    entry_assign(entry=entries[0], reviewer=newcomer, user=world.manager)
    task = open_tasks.get(assignee=newcomer)
    assert task.title.startswith("Decide 1 account(s)")
    # Cheap: one campaign's rows, a bounded number of queries whatever else is open.
    with django_assert_max_num_queries(8):
        assert review_tasks_sync(campaign=campaign) == 0
    assert open_tasks.count() == 2
