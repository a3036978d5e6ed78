from django.db.models import QuerySet

from .models import Notification


def unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user)


def bell(*, user, latest: int = 5) -> dict:
    """What the header's bell shows: the unread count and the latest few."""
    return {
        "unread_notifications": unread_count(user=user),
        "latest_notifications": list(notifications_for(user=user)[:latest]),
    }
