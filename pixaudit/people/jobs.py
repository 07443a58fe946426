"""Thin django-rq jobs of the people app (scheduled in ``pixaudit/cron.py``)."""

from __future__ import annotations

from django_rq import job


@job("default")
def people_daily_job() -> dict[str, object]:
    """Run the leaver test over the latest evidence; without HR evidence, say so and skip."""
    from pixaudit.people.selectors import hr_sources
    from pixaudit.people.services import lifecycle_run

    if not hr_sources():
        return {"skipped": "no HR evidence"}
    item = lifecycle_run()
    return {"evidence": item.seq, "accounts": item.row_count}
