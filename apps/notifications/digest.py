"""The daily summary: at 07:00 in each trader's own time zone, the day before in trades, net P&L and bots.

A schedule runs every minute; each run takes the opted-in traders whose local time is between 07:00 and noon and
whose summary for today is not written yet, claims today on their row (`digest_sent_on`, under a lock), and
writes every summary with a few queries per batch of traders, whatever their number. Days are local days
(zoneinfo), so a day across a daylight-saving change is 23 or 25 hours long and still one summary.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from apps.common.money import money_text
from apps.users.selectors import user_timezone

from .email import Email, email_plan_user_ids, emails_queue
from .models import Channel, Kind, NotificationPreferences
from .services import NewNotification, notifications_create
from .signals import digest_sections_requested

CHUNK = 500  # traders per batch of queries
# A summary missed at 07:00 (the worker was down) still goes out until noon; after that, that day has none.
CATCH_UP_HOURS = 5


@dataclass
class Due:
    user_id: int
    email: str
    channel: str
    day: date  # the local day summarised (yesterday, there)
    start: datetime
    end: datetime


def local_day_bounds(day: date, tz) -> tuple[datetime, datetime]:
    """The aware instants a local day starts and ends at (23 or 25 hours apart across a DST change)."""
    return datetime.combine(day, time.min, tzinfo=tz), datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def digests_due(now: datetime | None = None) -> list[tuple[NotificationPreferences, date]]:
    """(preferences, local today) of each opted-in trader past 07:00 (before noon) there, with no summary today."""
    now = now or timezone.now()
    hour = settings.NOTIFICATIONS["DIGEST_HOUR"]
    rows = (
        NotificationPreferences.objects.exclude(daily_summary=Channel.OFF)
        .filter(user__is_active=True)
        .select_related("user")
    )
    due = []
    for prefs in rows.iterator(chunk_size=2000):
        local = now.astimezone(user_timezone(prefs.user))
        if hour <= local.hour < hour + CATCH_UP_HOURS and prefs.digest_sent_on != local.date():
            due.append((prefs, local.date()))
    return due


def digests_send(now: datetime | None = None) -> int:
    """Write every due daily summary (in-app, and by email where chosen and the plan allows); returns how many."""
    due = digests_due(now)
    written = 0
    for start in range(0, len(due), CHUNK):
        written += _digest_batch(due[start : start + CHUNK])
    return written


@transaction.atomic
def _digest_batch(batch: list[tuple[NotificationPreferences, date]]) -> int:
    today_of = {prefs.pk: today for prefs, today in batch}
    # Claim: only rows still without today's summary once locked (a second run waits, then finds none).
    claimed = []
    locked = NotificationPreferences.objects.select_for_update().filter(pk__in=list(today_of))
    for pk, user_id, sent_on, channel in locked.values_list("pk", "user_id", "digest_sent_on", "daily_summary"):
        if sent_on != today_of[pk] and channel != Channel.OFF:
            claimed.append((pk, user_id, channel))
    if not claimed:
        return 0
    by_day = defaultdict(list)
    for pk, _, _ in claimed:
        by_day[today_of[pk]].append(pk)
    for today, pks in by_day.items():
        NotificationPreferences.objects.filter(pk__in=pks).update(digest_sent_on=today)
    prefs_of = {prefs.pk: prefs for prefs, _ in batch}
    dues = []
    for pk, user_id, channel in claimed:
        prefs = prefs_of[pk]
        tz = user_timezone(prefs.user)
        day = today_of[pk] - timedelta(days=1)
        dues.append(Due(user_id, prefs.user.email, channel, day, *local_day_bounds(day, tz)))
    summaries = digest_build(dues)
    email_ok = email_plan_user_ids(d.user_id for d in dues if d.channel == Channel.EMAIL)
    notices, emails = [], []
    for due in dues:
        summary = summaries[due.user_id]
        notices.append(
            NewNotification(
                user_id=due.user_id,
                kind=Kind.DAILY_SUMMARY,
                title=f"Your day, {due.day:%d %b}: {summary['headline']}"[:120],
                body="\n".join(summary["lines"])[:500],
            )
        )
        if due.channel == Channel.EMAIL and due.user_id in email_ok:
            emails.append(
                Email(
                    due.user_id,
                    due.email,
                    "daily_summary",
                    "daily_summary",
                    {"day": due.day, **summary},
                    dedupe_key=f"digest:{due.user_id}:{due.day.isoformat()}",
                )
            )
    notifications_create(notices)
    emails_queue(emails)
    return len(dues)


def digest_build(dues: list[Due]) -> dict[int, dict]:
    """Each trader's summary of their day: contracts settled, wins, net P&L per currency, and other apps' lines.

    One aggregate query per distinct day window (traders sharing a time zone share one), plus one per
    section receiver.
    """
    from apps.trading.models import Contract, Status

    windows = defaultdict(list)
    for due in dues:
        windows[(due.start, due.end)].append(due.user_id)
    figures = defaultdict(list)
    for (start, end), user_ids in windows.items():
        rows = (
            Contract.objects.filter(user_id__in=user_ids, settled_at__gte=start, settled_at__lt=end)
            .exclude(amount_paid=None)
            .values("user_id", "account__currency")
            .annotate(
                trades=Count("pk"),
                wins=Count("pk", filter=Q(status=Status.WON)),
                net=Sum(F("amount_paid") - F("stake")),
            )
            .order_by("user_id", "account__currency")
        )
        for row in rows:
            figures[row["user_id"]].append(row)
    extra = defaultdict(list)
    for (start, end), user_ids in windows.items():
        for _, answer in digest_sections_requested.send(sender=Due, user_ids=user_ids, start=start, end=end):
            for user_id, lines in (answer or {}).items():
                extra[user_id].extend(lines)
    summaries = {}
    for due in dues:
        rows = figures.get(due.user_id, [])
        trades = sum(r["trades"] for r in rows)
        wins = sum(r["wins"] for r in rows)
        pnl = [(r["account__currency"], money_text(r["net"] or Decimal("0"), signed=True)) for r in rows]
        lines = [f"Trades settled: {trades} ({wins} won)"]
        lines += [f"Net P&L: {amount} {currency}" for currency, amount in pnl]
        lines += extra.get(due.user_id, [])
        headline = f"{trades} trade{'s' if trades != 1 else ''}" + (
            ", " + ", ".join(f"{amount} {currency}" for currency, amount in pnl) if pnl else ""
        )
        summaries[due.user_id] = {
            "trades": trades,
            "wins": wins,
            "pnl": pnl,
            "lines": lines,
            "bot_lines": extra.get(due.user_id, []),
            "headline": headline,
        }
    return summaries
