"""Worker tasks of the revenue app (scheduled by migration 0002)."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.common.money import money_text
from apps.notifications.models import Kind, Notification
from apps.notifications.services import NewNotification, notifications_create

from .models import Partner
from .selectors import book_label, partner_earnings_by_day


def earnings_notice_title(day: date) -> str:
    """The title of a partner's notice for `day`; it also marks the day as told (one notice per day)."""
    return f"Partner earnings for {day:%d %b %Y}"


@transaction.atomic
def partner_earnings_notify(now: datetime | None = None) -> int:
    """Tell each partner, once, what markup their traders' wins paid them yesterday; returns how many were told.

    One notice per partner and day whatever the number of contracts, and none on a day without
    earnings. Running it again the same day (a retry, a second worker) tells no one twice: the
    partners are locked, and a partner who already has the day's notice is skipped.
    """
    day = timezone.localdate(now or timezone.now()) - timedelta(days=1)
    rows = partner_earnings_by_day(day)
    if not rows:
        return 0
    partner_ids = sorted({row["partner_id"] for row in rows})
    list(Partner.objects.select_for_update().filter(pk__in=partner_ids).values_list("pk", flat=True))
    title = earnings_notice_title(day)
    told = set(
        Notification.objects.filter(
            kind=Kind.PARTNER_EARNINGS, title=title, user_id__in={row["user_id"] for row in rows}
        ).values_list("user_id", flat=True)
    )
    by_user: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if row["user_id"] not in told:
            by_user[row["user_id"]].append(row)
    link = reverse("revenue:referrals")
    notices = []
    for user_id, books in by_user.items():
        amounts = " and ".join(f"{money_text(b['amount'])} {book_label(b['realm'], b['currency'])}" for b in books)
        contracts = sum(b["contracts"] for b in books)
        body = f"You earned {amounts} in markup from {contracts} contract{'s' if contracts != 1 else ''} yesterday."
        notices.append(NewNotification(user_id, Kind.PARTNER_EARNINGS, title, body, link))
    notifications_create(notices)
    return len(notices)
