"""django-rq jobs of the reports app (queue ``reports``): ids in, one service call."""

from __future__ import annotations

from rq import get_current_job


def report_render(report_id: int) -> str:
    """Render one report; progress and the PDF's SHA-256 are recorded on its row."""
    from pixaudit.reports.services import report_render as render

    job = get_current_job()
    return render(report_id=report_id, job_id=job.id if job else "").status
