"""The scheduler's configuration: ``python manage.py scheduler`` (RQ cron, this file).

Run exactly one scheduler. Every schedule lives in the database (each connection's
``next_run_at``, each retry's ``retry_at``); this file only says how often to look at it.
"""

from rq import cron

from pixaudit.awsorg.jobs import aws_integrations_enqueue_due
from pixaudit.changes.jobs import change_tickets_job
from pixaudit.evidence.jobs import collections_enqueue_due
from pixaudit.evidence.jobs_integrity import evidence_integrity_job
from pixaudit.exceptions.jobs import exceptions_daily_job
from pixaudit.notifications.jobs import notifications_digest_job
from pixaudit.people.jobs import people_daily_job
from pixaudit.posture.jobs import readiness_snapshots_job
from pixaudit.privacy.jobs import privacy_daily_job
from pixaudit.reports.jobs import pack_builds_sweep_job
from pixaudit.reviews.jobs import reviews_daily_job
from pixaudit.tasks.jobs import tasks_daily_job, work_tick_job
from pixaudit.vendors.jobs import vendors_daily_job

# Every 15 s: sweep runs left by dead workers and jobs Redis lost, hand due retries to the
# workers, enqueue every connection that is due. A retry is never later than one tick.
cron.register(collections_enqueue_due, queue_name="default", interval=15, job_timeout=300)

# Every minute: AWS integrations (pixaudit.awsorg): fail account jobs whose worker died, hand
# lost account jobs to the queue again, start every integration that is due (one listing
# job, then one job per account).
cron.register(aws_integrations_enqueue_due, queue_name="default", interval=60, job_timeout=300)

# Every 5 minutes: sign a checkpoint of the chain head when one is due (the head moved and
# the last is older than PIXAUDIT_CHECKPOINT_MINUTES); remove partial files of writers
# killed mid-write.
cron.register(evidence_integrity_job, queue_name="default", interval=300, job_timeout=600)

# Daily at 00:05 UTC: each framework's readiness snapshot, which feeds the trend charts.
cron.register(readiness_snapshots_job, queue_name="default", cron="5 0 * * *", job_timeout=600)

# Daily at 07:00 UTC: start due recurring access reviews, re-check revocation follow-ups,
# send review and manual-evidence reminders (idempotent per day: a rerun sends nothing new).
cron.register(reviews_daily_job, queue_name="default", cron="0 7 * * *", job_timeout=600)

# Daily at 00:15 UTC: the exceptions register catches up with appended evidence (manual
# uploads, access reviews) and records acceptances whose expiry passed.
cron.register(exceptions_daily_job, queue_name="default", cron="15 0 * * *", job_timeout=1800)
# Every 30 s: one event per connection whose collection failed for good; hand notification
# deliveries whose retry time has come to the workers.
cron.register(work_tick_job, queue_name="default", interval=30, job_timeout=300)

# Daily at 07:10 UTC: control changes no collection made (an expired risk acceptance reopens
# its remediation task), tasks for pending review decisions, expiring manual evidence and
# commitments without evidence; overdue-task and review-due events (one per change).
cron.register(tasks_daily_job, queue_name="default", cron="10 7 * * *", job_timeout=600)

# Daily at 07:30 UTC: the notification digest (one e-mail per user and day).
cron.register(notifications_digest_job, queue_name="default", cron="30 7 * * *", job_timeout=600)
# Daily at 07:30 UTC: the leaver, orphan and joiner test over the latest HR and identity
# evidence (skipped while there is no HR evidence); its result is evidence of its own.
cron.register(people_daily_job, queue_name="default", cron="30 7 * * *", job_timeout=900)
# Daily at 07:40 UTC: the vendor register appended as evidence (DPA, report, review and
# incident verdicts move with the calendar) and reminders before expiries and due reviews
# (one per change).
cron.register(vendors_daily_job, queue_name="default", cron="40 7 * * *", job_timeout=600)
# Daily at 00:20 UTC: snapshot the data-subject request register into the evidence chain
# (a request open past its deadline turns into a FAIL that morning).
cron.register(privacy_daily_job, queue_name="default", cron="20 0 * * *", job_timeout=600)
# Daily at 00:25 UTC: the change-ticket join (pixaudit.changes) again over the latest pull
# request and ticket evidence (each of their collections also enqueues it).
cron.register(change_tickets_job, queue_name="default", cron="25 0 * * *", job_timeout=900)
# Daily at 00:40 UTC: remove the stored files of evidence pack builds older than
# PIXAUDIT_PACK_RETENTION_DAYS (the latest build of each pack is kept; each removal is
# audit-logged as pack.swept, and the build's page offers to build it again).
cron.register(pack_builds_sweep_job, queue_name="default", cron="40 0 * * *", job_timeout=600)
