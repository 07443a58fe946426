"""django-rq jobs of the reports app (queue ``reports``): ids in, one service call.

Jobs import services, never the reverse: ``services.report_request`` enqueues
``services.REPORT_RENDER_JOB``, this module's function named by its dotted path.
"""

from __future__ import annotations

from rq import get_current_job

from pixaudit.reports import services, services_packs


def report_render(report_id: int) -> str:
    """Render one report; progress and the PDF's SHA-256 are recorded on its row."""
    job = get_current_job()
    return services.report_render(report_id=report_id, job_id=job.id if job else "").status


def pack_build_run(build_id: int) -> str:
    """Build one evidence pack into storage; progress and its SHA-256 are on its row."""
    job = get_current_job()
    build = services_packs.pack_build_execute(build_id=build_id, job_id=job.id if job else "")
    return build.status


def pack_builds_sweep_job() -> dict[str, object]:
    """The daily retention sweep of stored evidence pack files (cron, ``run_scheduled``)."""
    swept = services_packs.pack_builds_sweep()
    return {"swept": len(swept), "builds": swept}
