"""Webhook deliveries never run inside the request/response cycle in the embedded default:
a request that emits a notification answers before a slow receiver does."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from pixaudit.lib import embedded_worker
from pixaudit.notifications import services
from pixaudit.notifications.models import Delivery, DeliveryStatus
from tests.jobs.conftest import skip_on_shared_memory_sqlite, wait_for
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = 4.0


class SlowReceiver:
    """Answers 204 after ``SLOW`` seconds; records when each request arrived and ended."""

    def __init__(self):
        self.answered: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(SLOW)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.answered.append(time.monotonic())

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_receiver():
    server = SlowReceiver()
    yield server
    server.close()


@pytest.fixture
def worker():
    embedded_worker.embedded_worker_start()
    yield
    embedded_worker.embedded_worker_stop()


def test_a_request_that_notifies_answers_before_a_slow_webhook(users, slow_receiver, worker):
    skip_on_shared_memory_sqlite()
    endpoint, _ = services.endpoint_create(
        name="Slow SIEM", kind="webhook", url=slow_receiver.url, events=["control.failing"],
        actor=users.manager,
    )  # fmt: skip
    client = client_for(users.manager)
    started = time.monotonic()
    response = client.post(reverse("notifications:endpoint_test", args=[endpoint.pk]))
    answered = time.monotonic()
    assert response.status_code == 302
    assert answered - started < SLOW / 2, f"the request waited {answered - started:.1f} s"
    assert not slow_receiver.answered
    delivery = Delivery.objects.get(endpoint=endpoint)
    wait_for(
        lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT,
        timeout=30,
        what="the delivery to be sent by the worker thread",
    )
    assert slow_receiver.answered[0] > answered


def test_a_failed_webhook_is_retried_after_its_backoff_without_a_tick(users, worker, settings):
    """The embedded default has no scheduler tick: the worker threads run the retry when its
    backoff has passed (never before)."""
    skip_on_shared_memory_sqlite()
    from tests.notifications.receiver import Receiver

    settings.PIXAUDIT_NOTIFY_BACKOFF_SECONDS = [3]
    receiver = Receiver()
    try:
        receiver.fail_next = 1
        endpoint, receiver.secret = services.endpoint_create(
            name="Flaky SIEM", kind="webhook", url=receiver.url, events=["control.failing"],
            actor=users.manager,
        )  # fmt: skip
        services.notification_emit(event="control.failing", key="flaky", subject="CC6.1 failing")
        delivery = Delivery.objects.get(endpoint=endpoint)
        wait_for(lambda: len(receiver.raw) >= 1, timeout=20, what="the first attempt")
        first = time.monotonic()
        wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT,
            timeout=30,
            what="the retry to be delivered",
        )
        waited = time.monotonic() - first
        delivery.refresh_from_db()
        assert delivery.attempts == 2 and len(receiver.accepted) == 1
        assert waited >= 2.5, f"retried {waited:.1f} s after the failure, backoff 3 s"
    finally:
        receiver.close()
