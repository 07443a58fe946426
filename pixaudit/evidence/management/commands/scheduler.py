"""``manage.py scheduler``: the periodic scheduler, kept running through Redis outages.

It is django-rq's ``rqcron`` (RQ's cron scheduler, same configuration file), except that
``rqcron`` exits with a traceback when Redis is unreachable at one of its ticks, and then
nothing sweeps dead runs, dispatches retries or enqueues due collections until someone
restarts it. This command waits for Redis to come back and carries on; a tick missed in
the meantime runs as soon as it does.
"""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand
from django_rq.cron import DjangoCronScheduler
from redis.exceptions import RedisError
from rq.exceptions import StopRequested

logger = logging.getLogger("pixaudit.scheduler")

DEFAULT_CONFIG = "pixaudit/cron.py"
MAX_BACKOFF_SECONDS = 30.0


class Command(BaseCommand):
    help = (
        "Run the periodic scheduler (RQ cron, pixaudit/cron.py): run exactly one. "
        "Unlike rqcron it survives Redis outages."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "config_path", nargs="?", default=DEFAULT_CONFIG,
            help=f"Cron configuration file or module (default {DEFAULT_CONFIG})",
        )  # fmt: skip
        parser.add_argument(
            "--logging-level", "-l", default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        )  # fmt: skip

    def handle(self, *args, **options):
        level = getattr(logging, options["logging_level"])
        scheduler = DjangoCronScheduler(logging_level=level)
        scheduler.load_config_from_file(options["config_path"])
        self.stdout.write(f"Scheduler started with {len(scheduler.get_jobs())} periodic jobs")
        delay = 1.0
        while True:
            started = time.monotonic()
            try:
                scheduler.start()  # returns on SIGINT/SIGTERM
                return
            except RedisError as exc:
                if time.monotonic() - started > 2 * MAX_BACKOFF_SECONDS:
                    delay = 1.0  # it ran fine for a while: this is a new outage
                logger.warning("Redis unreachable (%s); scheduler retrying in %.0f s", exc, delay)
            try:
                time.sleep(delay)
            except (StopRequested, KeyboardInterrupt):
                return
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
