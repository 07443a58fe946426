"""The daily digest: one e-mail per user listing what concerned them since the last one."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from pixaudit.accounts.models import User
from pixaudit.notifications.events import EVENTS
from pixaudit.notifications.models import DigestSent, Notification, Preference
from pixaudit.notifications.services import absolute_link


def _body(user: User, notes: list[Notification]) -> str:
    lines = [
        f"Hello {user.get_username()},",
        "",
        "What happened in pixaudit since the last digest:",
        "",
    ]
    for note in notes:
        label = EVENTS.get(note.event, note.event)
        lines.append(f"- {label}: {note.subject}")
        if note.link:
            lines.append(f"  {absolute_link(note.link)}")
    lines += [
        "",
        f"My work: {absolute_link('/tasks/')}",
        f"Preferences: {absolute_link('/notifications/preferences/')}",
    ]
    return "\n".join(lines)


def digest_send(*, day: date | None = None) -> dict[str, int]:
    """Send today's digests (idempotent per user and day); returns sent / empty counts."""
    day = day or timezone.now().date()
    now = timezone.now()
    off = set(Preference.objects.filter(digest=False).values_list("user_id", flat=True))
    users = User.objects.filter(is_active=True).exclude(email="").exclude(pk__in=off)
    sent = empty = 0
    for user in users.order_by("pk"):
        if DigestSent.objects.filter(user=user, day=day).exists():
            continue
        last = DigestSent.objects.filter(user=user).order_by("-sent_at").first()
        since = last.sent_at if last else now - timedelta(days=1)
        notes = list(
            Notification.objects.filter(recipients=user, created_at__gt=since).order_by(
                "created_at", "id"
            )[:200]
        )
        if not notes:
            empty += 1
            continue
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=user, day=day, count=len(notes), sent_at=now)
                send_mail(
                    f"[pixaudit] Daily digest: {len(notes)} updates",
                    _body(user, notes),
                    None,
                    [user.email],
                )
        except IntegrityError:
            continue  # another process sent it
        sent += 1
    return {"sent": sent, "empty": empty}
