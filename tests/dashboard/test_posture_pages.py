"""Overview, control list and control detail pages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from pixaudit.posture.services import readiness_snapshot_take

pytestmark = pytest.mark.django_db


def assert_csp_clean(html: str) -> None:
    assert "style=" not in html
    # Scripts only by src (the CSP forbids inline script).
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/frameworks/soc2-2017/",
        "/controls/",
        "/controls/soc2-2017/CC6.1/",
        "/connections/",
        "/runs/",
        "/evidence/",
        "/soa/",
    ],
)
def test_anonymous_is_sent_to_login(client, catalogs, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))


@pytest.mark.smoke
def test_home_is_the_overview_of_the_first_framework(logged_in, demo_run):
    response = logged_in.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["framework"].key == "iso27001-2022"
    assert "Readiness" in html and "<svg" in html and "Fix first" in html
    assert_csp_clean(html)


def test_overview_shows_counts_trend_failing_and_stale_next(logged_in, demo_run, catalogs):
    readiness_snapshot_take(framework=catalogs["soc2-2017"])
    response = logged_in.get(reverse("dashboard:overview", args=["soc2-2017"]))
    assert response.status_code == 200
    html = response.content.decode()
    posture = response.context["posture"]
    assert posture.counts["failing"] == 1  # CC6.1: bucket-logs unencrypted, bob without MFA
    assert [c.control.ref for c in response.context["top_failing"]] == ["CC6.1"]
    assert [c.control.ref for c in response.context["stale_next"]] == ["CC6.1"]
    assert 'role="img"' in html and "<title" in html and "<desc" in html
    assert "1 daily readings" in html or "daily readings" in html
    for label in ("Failing", "No evidence", "Passing", "Not applicable"):
        assert label in html  # status in words, not colour alone
    assert_csp_clean(html)


def test_unknown_framework_is_404(logged_in, catalogs):
    assert logged_in.get("/frameworks/nope/").status_code == 404


def test_control_list_filters(logged_in, demo_run):
    url = reverse("dashboard:control_list")
    response = logged_in.get(url, {"framework": "iso27001-2022"})
    assert response.status_code == 200
    assert len(response.context["rows"]) == response.context["posture"].assessable

    failing = logged_in.get(url, {"framework": "iso27001-2022", "status": "failing"})
    refs = {c.control.ref for c, _ in failing.context["rows"]}
    assert refs == {"A.8.24", "A.8.5", "A.5.9"}  # encryption/keys, MFA, owners

    grouped = logged_in.get(url, {"framework": "iso27001-2022", "group": "A.8"})
    assert all(c.control.ref.startswith("A.8.") for c, _ in grouped.context["rows"])
    assert len(grouped.context["rows"]) == 34

    searched = logged_in.get(url, {"framework": "iso27001-2022", "q": "cryptography"})
    assert [c.control.ref for c, _ in searched.context["rows"]] == ["A.8.24"]
    html = searched.content.decode()
    assert '<label for="id_q">' in html and 'scope="col"' in html
    assert_csp_clean(html)


def test_control_list_query_count_is_bounded(logged_in, demo_run, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        logged_in.get(reverse("dashboard:control_list"), {"framework": "soc2-2017"})


def test_control_detail_of_a_failing_control(logged_in, demo_run):
    response = logged_in.get(reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["item"].status == "failing"
    assert "bucket-logs" in html and "acct-bob" in html
    assert "Enable encryption at rest" in html  # remediation
    assert "demo_inventory.encryption_at_rest" in html
    timeline = response.context["timeline"]
    assert len(timeline) == 1 and timeline[0].status == "failing"
    item = timeline[0].item
    assert reverse("dashboard:evidence_artifact", args=[item.pk]) in html
    assert item.sha256[:12] in html
    assert_csp_clean(html)


def test_control_detail_period_filter(logged_in, demo_run):
    url = reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"])
    response = logged_in.get(url, {"since": "2001-01-01", "until": "2001-01-31"})
    assert response.context["timeline"] == []
    bad = logged_in.get(url, {"since": "2001-02-01", "until": "2001-01-01"})
    assert "The end date is before the start date." in bad.content.decode()


def test_control_detail_404_and_group_redirect(logged_in, catalogs):
    assert logged_in.get("/controls/soc2-2017/ZZ9/").status_code == 404
    response = logged_in.get("/controls/soc2-2017/CC6/")
    assert response.status_code == 302 and "group=CC6" in response["Location"]
