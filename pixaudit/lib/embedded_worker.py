"""The embedded default's background worker: jobs never block a page, with no server.

With ``REDIS_URL`` unset the queues live on an in-process fakeredis server
(``pixaudit.lib.embedded_redis``), so only a worker *inside the web process* can see them.
The web entry points (``pixaudit/wsgi.py``, ``pixaudit/asgi.py``, which ``runserver`` and
``make demo`` load too) call :func:`embedded_worker_start` when the embedded queue is in use:
two daemon threads then serve the queues, one for ``collect`` and one for ``default`` and
``reports``, so a long collection never holds up a report or an e-mail. While they run,
:class:`PixauditQueue` enqueues asynchronously and wakes them; a page that starts a job
returns at once and shows the job's progress (the run and report pages poll a small JSON
status endpoint).

**Scheduled jobs.** RQ puts a job enqueued for later (``enqueue_in``/``enqueue_at``, and the
retries RQ's ``Retry(interval=...)`` makes) on the queue's ``ScheduledJobRegistry``, a Redis
sorted set scored by the due time; real deployments run RQ's scheduler to move due jobs onto
their queue. The embedded threads do that themselves: before each burst a thread moves the
due jobs of its queues (:func:`scheduled_jobs_enqueue_due`), and it sleeps until the earliest
due time of its queues (at most ``WAKE_SECONDS``), so the sorted set is its due-time heap. The
registry scores whole seconds (RQ truncates the due time), so a job is moved only once the
second after its truncated score has begun: never before its due time, at most about a
second after it. Scheduling wakes the thread, which then recomputes its sleep.

Everywhere else (management commands run from a shell or from cron, the test suite unless
a test starts the worker) nothing changes: the queues keep RQ's synchronous mode and the
job runs in the process that enqueued it, after the transaction commits. Jobs enqueued in a
process always run in that process, so a collection is still owned by the process
(``worker`` = host:pid) and a restarted server's lost runs are found by the same sweep.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections
from django_rq.queues import DjangoRQ
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker

logger = logging.getLogger("pixaudit.jobs.embedded")

#: Each group of queues gets its own thread (first listed, first served).
QUEUE_GROUPS: tuple[tuple[str, ...], ...] = (("collect",), ("default", "reports"))
#: Longest sleep of a thread between looks at its queues (a missed wake-up costs no more).
WAKE_SECONDS = 5.0


class _ThreadWorker(SimpleWorker):
    """RQ's SimpleWorker made safe to run in a thread that is not the main one.

    Signal handlers can only be installed by the main thread, and the default SIGALRM job
    timeout only works there: the worker installs none and times jobs out with a timer.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:  # the web server owns the process' signals
        return None


@dataclass
class _State:
    threads: list[threading.Thread] = field(default_factory=list)
    wake: dict[str, threading.Event] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The process that started the threads (a forked child restarts its own, see below).
    pid: int = 0


_state = _State()


def embedded_worker_running() -> bool:
    """True when this process serves its own queues in background threads."""
    return any(thread.is_alive() for thread in _state.threads)


def embedded_worker_wanted() -> bool:
    """The web process should start the worker: the embedded queue, and not switched off."""
    return bool(settings.JOBS_IN_PROCESS and getattr(settings, "PIXAUDIT_EMBEDDED_WORKER", True))


def embedded_worker_start() -> bool:
    """Start the background threads (idempotent); False when they were already running."""
    with _state.lock:
        if embedded_worker_running():
            return False
        _state.stop.clear()
        _state.threads = []
        _state.pid = os.getpid()
        for names in QUEUE_GROUPS:
            wake = threading.Event()
            for name in names:
                _state.wake[name] = wake
            thread = threading.Thread(
                target=_serve, args=(names, wake), name=f"pixaudit-jobs-{'+'.join(names)}",
                daemon=True,
            )  # fmt: skip
            _state.threads.append(thread)
            thread.start()
        # Jobs enqueued before the threads existed (none, usually) are picked up now.
        for wake in _state.wake.values():
            wake.set()
    logger.info("embedded job worker started: %s", ", ".join("+".join(g) for g in QUEUE_GROUPS))
    return True


def embedded_worker_stop(timeout: float = 30.0) -> None:
    """Stop the threads after their current job (tests; a daemon thread dies with its process)."""
    _state.stop.set()
    for wake in _state.wake.values():
        wake.set()
    for thread in _state.threads:
        thread.join(timeout)
    _state.threads = []


def embedded_worker_wake(queue_name: str) -> None:
    """Tell the thread serving ``queue_name`` that a job is waiting."""
    wake = _state.wake.get(queue_name)
    if wake is not None:
        wake.set()


def scheduled_jobs_enqueue_due(queues, *, now: float | None = None) -> int:
    """Move the scheduled jobs of ``queues`` whose due time has passed onto their queue.

    RQ scores a scheduled job by its due time truncated to the second, so a job scored ``s``
    is due somewhere in ``[s, s + 1)``: it is moved once ``now >= s + 1`` (never early).
    Returns how many jobs were moved.
    """
    cutoff = int(time.time() if now is None else now) - 1
    moved = 0
    for queue in queues:
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(cutoff):
            # Whoever removes the id from the sorted set moves the job (no double enqueue).
            if not queue.connection.zrem(registry.key, job_id):
                continue
            job = Job.fetch_many([job_id], connection=queue.connection)[0]
            if job is not None:
                queue._enqueue_job(job, at_front=job.should_enqueue_at_front())
                moved += 1
    return moved


def scheduled_jobs_next_due(queues) -> float | None:
    """Seconds (epoch) from which the earliest scheduled job of ``queues`` may be moved."""
    earliest: float | None = None
    for queue in queues:
        first = queue.connection.zrange(ScheduledJobRegistry(queue=queue).key, 0, 0,
                                        withscores=True)  # fmt: skip
        if first:
            due = float(first[0][1]) + 1
            earliest = due if earliest is None else min(earliest, due)
    return earliest


def _sleep_seconds(queues) -> float:
    due = scheduled_jobs_next_due(queues)
    if due is None:
        return WAKE_SECONDS
    return max(0.05, min(WAKE_SECONDS, due - time.time()))


def _serve(names: tuple[str, ...], wake: threading.Event) -> None:
    import django_rq

    timeout = 0.0
    while not _state.stop.is_set():
        wake.wait(timeout=timeout)  # the timeout also picks up jobs whose wake-up was missed
        wake.clear()
        if _state.stop.is_set():
            break
        timeout = WAKE_SECONDS
        try:
            queues = [django_rq.get_queue(name) for name in names]
            scheduled_jobs_enqueue_due(queues)
            _ThreadWorker(queues, connection=queues[0].connection).work(
                burst=True, logging_level="WARNING"
            )
            timeout = _sleep_seconds(queues)
        except Exception:  # keep serving: one broken job or hiccup must not stop all jobs
            logger.exception("embedded job worker (%s) failed; continuing", "+".join(names))
        finally:
            connections.close_all()  # this thread's own database connections


def _restart_after_fork() -> None:
    """A forked child (e.g. ``gunicorn --preload`` forking after ``wsgi.py`` started the
    threads) inherits no threads: without this it would run every job inside its requests.
    The child starts its own threads, on its own copy of the in-process queues."""
    if _state.pid and _state.pid != os.getpid() and not _state.stop.is_set():
        _state.lock = threading.Lock()  # the parent's may have been held while forking
        _state.threads = []
        embedded_worker_start()


os.register_at_fork(after_in_child=_restart_after_fork)


class PixauditQueue(DjangoRQ):
    """django-rq's queue, asynchronous while this process runs the embedded worker.

    Configured as ``RQ["QUEUE_CLASS"]``. With real Redis and real workers (``ASYNC`` true)
    it is django-rq's queue unchanged.
    """

    def __init__(self, *args, **kwargs) -> None:
        if embedded_worker_running():
            kwargs["is_async"] = True
        super().__init__(*args, **kwargs)

    def enqueue_job(self, job, *args, **kwargs):
        """Enqueue as RQ does, then wake the thread that serves this queue."""
        result = super().enqueue_job(job, *args, **kwargs)
        if self.is_async:
            embedded_worker_wake(self.name)
        return result

    def schedule_job(self, job, datetime, *args, **kwargs):
        """Schedule as RQ does (``enqueue_in``/``enqueue_at``, RQ's retries with an interval),
        then wake the thread so that it sleeps until this job's due time at most."""
        result = super().schedule_job(job, datetime, *args, **kwargs)
        if self.is_async:
            embedded_worker_wake(self.name)
        return result
