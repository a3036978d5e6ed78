from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from .models import Notification


@dataclass(frozen=True)
class NewNotification:
    user_id: int
    kind: str
    title: str
    body: str = ""
    link: str = ""


def notifications_create(items: Iterable[NewNotification]) -> list[Notification]:
    """Write notifications in bulk; each user's bell and toasts are pushed after commit."""
    rows = Notification.objects.bulk_create(
        [Notification(user_id=i.user_id, kind=i.kind, title=i.title, body=i.body, link=i.link) for i in items]
    )
    if rows:
        # Rendering every user's fragments is the worker's job, off the
        # caller's path (settlement may notify thousands at once).
        ids = [n.pk for n in rows]
        transaction.on_commit(lambda: async_task("apps.realtime.tasks.push_notifications", ids, group="push"))
    return rows


def notification_create(*, user, kind: str, title: str, body: str = "", link: str = "") -> Notification:
    return notifications_create([NewNotification(user.pk, kind, title, body, link)])[0]


def notifications_mark_all_read(*, user) -> int:
    count = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        from apps.realtime.push import push_user_state

        transaction.on_commit(lambda: push_user_state([user.pk]))
    return count
