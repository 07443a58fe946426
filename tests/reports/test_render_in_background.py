"""With the embedded worker (as in runserver), "Render report" answers at once; the report
page's status endpoint shows the progress until the PDF is there."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from pixaudit.lib import embedded_worker
from pixaudit.reports.models import Report
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker():
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


def test_render_report_returns_at_once_and_the_status_follows(
    worker, manager_client, scope, monkeypatch
):
    skip_on_shared_memory_sqlite()
    from pixaudit.reports import services
    from pixaudit.reports.rendering import RenderedPdf

    def slow_pdf(data, progress=None):  # stands in for WeasyPrint's seconds of work
        time.sleep(3)
        return RenderedPdf(b"%PDF-x", 1)

    monkeypatch.setattr(services, "report_pdf", slow_pdf)
    started = time.monotonic()
    response = manager_client.post(
        reverse("reports:list"),
        {"framework": "soc2-2017", "start": scope.period.start, "end": scope.period.end},
    )
    answered = time.monotonic() - started
    report = Report.objects.get()
    assert response.status_code == 302 and answered < 2.0, answered
    status_url = reverse("reports:status", args=[report.pk])
    first = manager_client.get(status_url).json()
    assert first["status"] in ("queued", "running"), first
    wait_for(
        lambda: manager_client.get(status_url).json()["status"] == "succeeded",
        timeout=60,
        what="the report to render",
    )
    assert manager_client.get(status_url).json()["progress"] == 100
