"""One date format everywhere, and names where names exist (issue 12)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse

from pixaudit.dashboard import charts
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
US_DATE = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}, \d{4}")
#: The only `|date:` formats templates may use: ISO days and times, and 'c' for machine use.
ALLOWED_DATE_FORMATS = {"Y-m-d", "Y-m-d H:i", "Y-m-d H:i:s", "c"}


def test_django_renders_dates_and_times_in_iso_form():
    from datetime import UTC, datetime

    html = Template("{{ d }} · {{ dt }} · {{ d|date }} · {{ dt|date }}").render(
        Context({"d": date(2026, 12, 20), "dt": datetime(2026, 12, 20, 14, 5, tzinfo=UTC)})
    )
    assert html == "2026-12-20 · 2026-12-20 14:05 UTC · 2026-12-20 · 2026-12-20"


def test_every_template_date_format_is_the_iso_one():
    offenders = []
    for path in ROOT.joinpath("pixaudit").rglob("templates/**/*.html"):
        for fmt in re.findall(r"""\|date:["']([^"']*)["']""", path.read_text()):
            if fmt not in ALLOWED_DATE_FORMATS:
                offenders.append(f"{path.relative_to(ROOT)}: {fmt}")
    for path in ROOT.joinpath("templates").rglob("*.html"):
        for fmt in re.findall(r"""\|date:["']([^"']*)["']""", path.read_text()):
            if fmt not in ALLOWED_DATE_FORMATS:
                offenders.append(f"{path.relative_to(ROOT)}: {fmt}")
    assert not offenders, offenders


def test_trend_chart_labels_days_in_iso_form():
    svg = str(charts.trend_svg([], days=90, end=date(2026, 12, 20), title="t"))
    assert ">2026-12-20</text>" in svg and not US_DATE.search(svg) and "Dec " not in svg


def test_review_and_manual_pages_show_iso_dates(people, users):
    from pixaudit.reviews.services import campaign_start

    due = date.today() + timedelta(days=14)
    campaign = campaign_start(connection=people, name="Q4 review", due_on=due, user=users.manager)
    client = client_for(users.manager)
    for url in (
        reverse("reviews:campaign_list"),
        reverse("reviews:campaign_detail", args=[campaign.pk]),
    ):
        html = client.get(url).content.decode()
        assert due.isoformat() in html, url
        assert "Test people" in html, url  # the collector's title, not testsrc_people
        assert not US_DATE.search(html), (url, US_DATE.search(html))


def test_pages_name_collectors_not_their_keys(people, users):
    from pixaudit.evidence.models import EvidenceItem

    client = client_for(users.manager)
    item = EvidenceItem.objects.get(connection=people)
    for url in (
        reverse("dashboard:run_list"),
        reverse("dashboard:evidence_list"),
        reverse("dashboard:evidence_detail", args=[item.pk]),
    ):
        html = client.get(url).content.decode()
        assert "Test people" in html, url
    runs = client.get(reverse("dashboard:run_list")).content.decode()
    assert '<code class="muted">testsrc_people</code>' not in runs
    evidence = client.get(reverse("dashboard:evidence_list")).content.decode()
    assert '<option value="testsrc_people">Test people</option>' in evidence


def test_engagement_pages_and_reports_name_the_engagement(people, catalogs, users):
    from pixaudit.evidence.models import EvidenceItem
    from tests.security.helpers import engagement_make, report_make

    today = date.today()
    engagement = engagement_make(
        framework=catalogs["soc2-2017"], start=today - timedelta(days=30), end=today,
        name="Acme SOC 2 Type II",
    )  # fmt: skip
    report = report_make(engagement=engagement, framework=catalogs["soc2-2017"])
    html = client_for(users.manager).get(reverse("reports:detail", args=[report.pk])).content
    html = html.decode()
    assert "Acme SOC 2 Type II" in html and f"engagement #{engagement.pk}" not in html
    item = EvidenceItem.objects.get(connection=people)
    listing = client_for(users.manager).get(reverse("audits:evidence_list", args=[engagement.pk]))
    assert "Test people" in listing.content.decode()
    detail = client_for(users.manager).get(
        reverse("audits:evidence_detail", args=[engagement.pk, item.pk])
    )
    assert "<h1>Evidence 1: Test people</h1>" in detail.content.decode()


def test_run_status_json_carries_times_formatted_like_the_pages(people, users):
    from pixaudit.evidence.models import CollectionRun

    run = CollectionRun.objects.filter(connection=people).latest("pk")
    data = client_for(users.manager).get(reverse("dashboard:run_status", args=[run.pk])).json()
    assert data["started_at_display"] == run.started_at.strftime("%Y-%m-%d %H:%M UTC")
    assert data["finished_at_display"] == run.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    js = ROOT.joinpath("static/js/run-status.js").read_text()
    assert "toLocaleString" not in js


def test_the_pdf_report_uses_the_same_dates_and_names(people, catalogs):
    from pixaudit.reports.periods import Period
    from pixaudit.reports.rendering import report_html
    from pixaudit.reports.selectors import report_data

    today = date.today()
    data = report_data(
        framework=catalogs["soc2-2017"], period=Period(today - timedelta(days=7), today)
    )
    html = report_html(data, for_pdf=True)
    assert "Test people" in html  # the evidence appendix names the collector
    assert today.isoformat() in html and not US_DATE.search(html)


def test_the_review_form_names_the_population_by_its_collector_title(people, users):
    html = client_for(users.manager).get(reverse("reviews:campaign_create")).content.decode()
    option = re.search(rf'<option value="{people.pk}">([^<]*)</option>', html)
    assert option and "Test people" in option[1] and "testsrc_people" not in option[1]
