"""Signed webhooks to a real receiver on 127.0.0.1: signature, replay window, retries with
backoff, the delivery log, HTTPS-only outside tests, secrets encrypted at rest."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from pixaudit.evidence import crypto
from pixaudit.notifications import services
from pixaudit.notifications.models import Delivery, DeliveryStatus, Endpoint
from pixaudit.notifications.signing import signature_headers
from tests.notifications.receiver import Receiver
from tests.tasks.fixtures import collect

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _endpoint(receiver, users, events=("control.failing", "control.recovered")):
    endpoint, secret = services.endpoint_create(
        name="SIEM", kind="webhook", url=receiver.url, events=list(events), actor=users.manager
    )
    receiver.secret = secret
    return endpoint, secret


def test_signed_failing_and_recovered_events_reach_the_receiver(
    demo, owner, users, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = _endpoint(receiver, users)
    with django_capture_on_commit_callbacks(execute=True):
        collect(demo)
        collect(demo)  # same state: nothing more is sent
        collect(demo, encrypted=True)
    soc2 = [a for a in receiver.accepted if a["data"]["control"] == owner.address]
    assert [a["event"] for a in soc2] == ["control.failing", "control.recovered"]
    assert not receiver.rejected
    first = soc2[0]
    assert first["url"].endswith(f"/controls/soc2-2017/{owner.ref}/")
    assert abs(first["timestamp"] - time.time()) < 60
    deliveries = endpoint.deliveries.all()
    assert {d.status for d in deliveries} == {DeliveryStatus.SENT}
    assert all(d.response_status == 204 and d.attempts == 1 for d in deliveries)
    # The secret is stored encrypted, bound to this endpoint.
    endpoint.refresh_from_db()
    assert secret not in endpoint.secret
    aad = crypto.secret_aad("endpoint", endpoint.pk, "secret")
    assert crypto.decrypt(endpoint.secret, aad=aad) == secret


def test_receiver_rejects_replays_tampering_and_stale_timestamps(users, receiver):
    endpoint, secret = _endpoint(receiver, users)
    services.notification_emit(event="control.failing", key="k1", subject="CC6.1 failing",
                               payload={"control": "soc2-2017:CC6.1"})  # fmt: skip
    delivery = Delivery.objects.get(endpoint=endpoint)
    services.delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.accepted) == 1
    headers, body = receiver.raw[-1]
    # The very same request again (a replay): refused although the signature is valid.
    assert requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 401
    assert receiver.rejected[-1] == "delivery already received (replay)"
    # Changed body, same signature.
    tampered = body.replace(b"CC6.1 failing", b"CC6.1 passing")
    assert requests.post(receiver.url, data=tampered, headers=headers, timeout=5).status_code == 401
    assert receiver.rejected[-1] == "signature does not match"
    # Correctly signed, but 10 minutes old: outside the replay window.
    old = int(time.time()) - 600
    stale = signature_headers(secret=secret, body=body, event="control.failing",
                              delivery="another-id", timestamp=old)  # fmt: skip
    assert requests.post(receiver.url, data=body, headers=stale, timeout=5).status_code == 401
    assert "replay window" in receiver.rejected[-1]
    # A moved timestamp breaks the signature (it is inside the signed bytes).
    moved = dict(headers, **{"X-Pixaudit-Timestamp": str(int(headers["X-Pixaudit-Timestamp"]) + 5),
                             "X-Pixaudit-Delivery": "third-id"})  # fmt: skip
    assert requests.post(receiver.url, data=body, headers=moved, timeout=5).status_code == 401
    assert len(receiver.accepted) == 1


def test_failures_are_retried_with_backoff_then_given_up(
    users, receiver, settings, django_capture_on_commit_callbacks
):
    settings.PIXAUDIT_NOTIFY_BACKOFF_SECONDS = [30, 120]
    settings.PIXAUDIT_NOTIFY_MAX_ATTEMPTS = 3
    endpoint, _ = _endpoint(receiver, users)
    receiver.fail_next = 1
    services.notification_emit(event="control.failing", key="k2", subject="CC6.1 failing")
    delivery = Delivery.objects.get(endpoint=endpoint)
    before = timezone.now()
    delivery = services.delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == DeliveryStatus.RETRYING and delivery.response_status == 503
    assert delivery.last_error == "the endpoint answered HTTP 503"
    assert timedelta(seconds=29) < delivery.next_attempt_at - before < timedelta(seconds=32)
    # Not due yet: nothing is handed over.
    assert services.deliveries_dispatch_due(now=before + timedelta(seconds=10)) == 0
    # Due: the tick hands it to the (in-process) queue, which delivers it.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deliveries_dispatch_due(now=before + timedelta(seconds=31)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(receiver.accepted) == 1
    # The same delivery id on its retry: receivers can deduplicate.
    ids = {h["X-Pixaudit-Delivery"] for h, _ in receiver.raw}
    assert ids == {str(delivery.uid)}

    # An endpoint that never answers: 3 attempts, then failed for good with a clear message.
    receiver.close()
    services.notification_emit(event="control.failing", key="k3", subject="again")
    dead = Delivery.objects.exclude(pk=delivery.pk).get(endpoint=endpoint)
    for _ in range(3):
        dead = services.delivery_attempt(delivery_id=dead.pk)
    assert dead.status == DeliveryStatus.FAILED and dead.attempts == 3
    assert "could not be reached" in dead.last_error
    assert services.delivery_attempt(delivery_id=dead.pk) is None  # never again


def test_webhook_urls_are_https_only_outside_tests(users, settings):
    settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(ValidationError) as exc:
        services.endpoint_create(name="x", kind="webhook", url="http://127.0.0.1:9/hook",
                                 events=["control.failing"], actor=users.manager)  # fmt: skip
    assert "HTTPS" in exc.value.message_dict["url"][0]
    endpoint, _ = services.endpoint_create(
        name="x", kind="slack", url="https://hooks.example.com/services/T/B/X",
        events=["control.failing"], actor=users.manager,
    )  # fmt: skip
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()
    settings.PIXAUDIT_ALLOW_HTTP_LOOPBACK = True
    with pytest.raises(ValidationError):
        services.endpoint_create(name="y", kind="webhook", url="http://example.com/hook",
                                 events=["control.failing"], actor=users.manager)  # fmt: skip


def test_slack_gets_text_and_a_link(users, receiver):
    endpoint, _ = services.endpoint_create(
        name="Slack", kind="slack", url=receiver.url, events=["collection.error"],
        actor=users.manager,
    )  # fmt: skip
    services.notification_emit(event="collection.error", key="k4", subject="Collection failed",
                               body="AWS unreachable", link="/runs/3/")  # fmt: skip
    services.delivery_attempt(delivery_id=Delivery.objects.get(endpoint=endpoint).pk)
    text = receiver.accepted[0]["text"]
    assert text.startswith("*Collection failed*\nAWS unreachable\n<http")
    assert "/runs/3/|Open in pixaudit>" in text


def test_digest_once_per_day(users, django_capture_on_commit_callbacks):
    from django.core import mail

    from pixaudit.notifications.digest import digest_send

    services.preference_set(user=users.engineer, email_events=[], digest=True)
    services.notification_emit(event="control.failing", key="k5", subject="CC6.1 failing",
                               users=[users.engineer])  # fmt: skip
    assert mail.outbox == []  # not e-mailed at once: this user chose the digest only
    assert digest_send()["sent"] == 1
    assert digest_send()["sent"] == 0
    digest = [m for m in mail.outbox if m.to == [users.engineer.email]]
    assert len(digest) == 1 and "CC6.1 failing" in digest[0].body


def test_rotate_secrets_key_reencrypts_endpoint_secrets(users, monkeypatch):
    import io

    from django.core.management import call_command

    old = crypto.generate_key()
    monkeypatch.setenv(crypto.ENV_VAR, old)
    endpoint, secret = services.endpoint_create(
        name="SIEM", kind="webhook", url="https://siem.example.com/hook",
        events=["control.failing"], actor=users.manager,
    )  # fmt: skip
    new = crypto.generate_key()
    monkeypatch.setenv(crypto.ENV_VAR, f"{new},{old}")
    call_command("rotate_secrets_key", stdout=(out := io.StringIO()))
    assert "webhook signing secrets: 1 re-encrypted, 0 already current" in out.getvalue()
    monkeypatch.setenv(crypto.ENV_VAR, new)  # the old key is gone: the secret still decrypts
    endpoint.refresh_from_db()
    assert services.endpoint_secret(endpoint) == secret
