from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from apps.common.bulk import insert_rows
from apps.common.events import send_after_commit

from .email import KIND_TOPIC, channel_of, emails_queue, notices_email, preferences_of
from .models import Channel, Notification, OutboxEmail, OutboxStatus, Topic
from .signals import notifications_created, notifications_read


@dataclass(frozen=True)
class NewNotification:
    user_id: int
    kind: str
    title: str
    body: str = ""
    link: str = ""


def _wanted(prefs, kind: str) -> bool:
    topic = KIND_TOPIC[kind]
    return topic == Topic.SECURITY or channel_of(prefs, topic) != Channel.OFF


def notifications_create(items: Iterable[NewNotification]) -> list[int]:
    """Write notifications as a set (settlement may notify thousands at once); returns their ids.

    `notifications_created` tells the new ids once they commit (live pages
    show each trader's bell and a toast).

    Each trader's preference for the notice's topic applies: off writes nothing, email also writes an
    email to the outbox (in this transaction) when their plan includes email alerts.
    """
    items = list(items)
    prefs = preferences_of(i.user_id for i in items if i.kind in KIND_TOPIC)
    items = [i for i in items if i.kind not in KIND_TOPIC or _wanted(prefs.get(i.user_id), i.kind)]
    emails_queue(notices_email(items, prefs))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = [(i.user_id, i.kind, i.title, i.body, i.link, now) for i in items]
    if not rows:
        return []
    with connection.cursor() as cursor:
        returned = insert_rows(
            cursor, Notification, ("user", "kind", "title", "body", "link", "created_at"), rows, returning=("id",)
        )
    ids = [pk for (pk,) in returned]
    send_after_commit(notifications_created, sender=Notification, notification_ids=ids)
    return ids


def notification_create(*, user, kind: str, title: str, body: str = "", link: str = "") -> Notification | None:
    """One notice; None when the trader turned its kind off."""
    ids = notifications_create([NewNotification(user.pk, kind, title, body, link)])
    return Notification.objects.get(pk=ids[0]) if ids else None


def notifications_mark_all_read(*, user) -> int:
    count = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        send_after_commit(notifications_read, sender=Notification, user_ids=[user.pk])
    return count


def notifications_purge(*, before) -> int:
    """Delete notifications created before `before` (retention); returns how many went.

    Emails sent (or failed for good) before then go from the outbox too; those still to be sent stay.
    """
    OutboxEmail.objects.filter(created_at__lt=before, status__in=[OutboxStatus.SENT, OutboxStatus.FAILED]).delete()
    deleted, _ = Notification.objects.filter(created_at__lt=before).delete()
    return deleted
