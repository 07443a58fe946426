"""Coverage pages show the numbers of the known history; window inputs are validated."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.posture import coverage_history as h

pytestmark = pytest.mark.django_db

WINDOW = {"cov-start": "2026-01-01", "cov-end": "2026-03-31"}


@pytest.fixture
def history(catalogs, user):
    return h.build(user)


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_control_detail_heatmap_and_figures(history, logged_in):
    url = reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"])
    html = logged_in.get(url, WINDOW).content.decode()
    text = _text(html)
    assert html.count("data-day=") == 90
    assert 'data-day="2026-01-10" data-status="failing"' in html
    assert "87.8% of in-scope days covered by passing evidence" in text
    assert (
        "43 passing, 5 failing, 0 in error, 1 without (valid) evidence, 41 not applicable" in text
    )
    assert "Days without evidence: 2026-01-30 ." in text
    untested = reverse("dashboard:control_detail", args=["soc2-2017", "CC7.1"])
    assert "Not tested: no evidence in the period." in _text(
        logged_in.get(untested, WINDOW).content.decode()
    )


def test_framework_matrix_sorted_by_coverage(history, logged_in):
    url = reverse("dashboard:framework_coverage", args=["soc2-2017"])
    html = logged_in.get(url, {**WINDOW, "sort": "-coverage"}).content.decode()
    refs = re.findall(r'<tr data-ref="([^"]+)"', html)
    assert refs[:2] == ["CC6.1", "CC4.1"]  # 87.8% then 56.7%
    text = _text(html)
    assert "87.8%" in text and "56.7%" in text
    assert "Not tested: no evidence in the period" in text
    low_first = logged_in.get(url, {**WINDOW, "sort": "coverage"}).content.decode()
    assert re.findall(r'<tr data-ref="([^"]+)"', low_first)[-2:] == ["CC4.1", "CC6.1"]


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"cov-start": "2026-03-01", "cov-end": "2026-02-01"},
            "The start date is after the end date.",
        ),
        ({"cov-start": "2026-01-01", "cov-end": "2999-01-01"}, "The window cannot end after today"),
        ({"cov-start": "not-a-date"}, "Enter a valid date."),
        ({"cov-start": "2020-01-01", "cov-end": "2026-01-01"}, "at most 731 days"),
    ],
)
def test_bad_window_says_why_and_shows_the_default(catalogs, logged_in, params, message):
    url = reverse("dashboard:framework_coverage", args=["soc2-2017"])
    response = logged_in.get(url, params)
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert message in text
    assert "the last 90 days (default)" in text
