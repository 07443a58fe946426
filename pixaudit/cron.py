"""The scheduler's configuration: ``python manage.py rqcron pixaudit/cron.py``.

Run exactly one scheduler. Every schedule lives in the database (each connection's
``next_run_at``); this file only says how often to look at it.
"""

from rq import cron

from pixaudit.evidence.jobs import collections_enqueue_due
from pixaudit.posture.jobs import readiness_snapshots_job

# Every minute: sweep runs left by dead workers, enqueue every connection that is due.
cron.register(collections_enqueue_due, queue_name="default", interval=60, job_timeout=300)

# Daily at 00:05 UTC: each framework's readiness snapshot, which feeds the trend charts.
cron.register(readiness_snapshots_job, queue_name="default", cron="5 0 * * *", job_timeout=600)
