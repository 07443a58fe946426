"""What a new user met on the operational pages (issue 12): durations, evidence detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from pixaudit.evidence.models import CollectionRun
from pixaudit.lib.display import format_duration

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.35, "0.3 s"),
        (4.2, "4.2 s"),
        (42.4, "42 s"),
        (192, "3 min 12 s"),
        (180, "3 min"),
        (2 * 3600 + 5 * 60 + 9, "2 h 5 min"),
        (None, "—"),
    ],
)
def test_durations_read_like_a_person_would_say_them(seconds, shown):
    assert format_duration(seconds) == shown


def _timed(run: CollectionRun, seconds: float) -> CollectionRun:
    CollectionRun.objects.filter(pk=run.pk).update(
        finished_at=run.started_at + timedelta(seconds=seconds)
    )
    run.refresh_from_db()
    return run


def test_run_pages_show_the_real_duration_not_zero_minutes(logged_in, demo_run):
    run = _timed(demo_run, 4.2)
    listing = logged_in.get(reverse("dashboard:run_list")).content.decode()
    assert "4.2 s" in listing
    assert "0\xa0minutes" not in listing and "0 minutes" not in listing
    detail = logged_in.get(reverse("dashboard:run_detail", args=[run.pk])).content.decode()
    assert '<dd data-field="duration">4.2 s</dd>' in detail
    status = logged_in.get(reverse("dashboard:run_status", args=[run.pk])).json()
    assert status["duration"] == "4.2 s"
    _timed(run, 192)
    assert "3 min 12 s" in logged_in.get(reverse("dashboard:run_list")).content.decode()
