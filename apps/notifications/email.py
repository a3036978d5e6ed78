"""Email notifications: who gets which, rendered from templates, written to the outbox and sent by the worker.

Every email is a row of `OutboxEmail` written in the transaction of the event that causes it (a rolled-back
event sends nothing); after commit a task sends it, and the `notifications-outbox-sweep` schedule sends any
left behind (the queue lost the task, or a retry is due). Sending claims a row with one conditional update,
so two workers never send the same email twice.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Channel, Kind, NotificationPreferences, OutboxEmail, OutboxStatus, Topic

log = logging.getLogger(__name__)

# Notification kinds and the preference that governs them; kinds absent here are in-app only, always
# (the daily summary applies its own preference: apps/notifications/digest.py).
KIND_TOPIC = {
    Kind.CONTRACT_WON: Topic.CONTRACT_RESULTS,
    Kind.CONTRACT_LOST: Topic.CONTRACT_RESULTS,
    Kind.CONTRACT_REFUNDED: Topic.CONTRACT_RESULTS,
    Kind.BOT_STOPPED: Topic.BOT_STOPPED,
    Kind.PARTNER_EARNINGS: Topic.PARTNER_EARNINGS,
    Kind.PLAN_CHANGED: Topic.PLAN_BILLING,
    Kind.LOW_BALANCE: Topic.LOW_BALANCE,
    Kind.SECURITY: Topic.SECURITY,
    Kind.DERIV_DISCONNECTED: Topic.DERIV,
}
UNSUBSCRIBE_SALT = "notifications.unsubscribe"
BATCH = 200  # emails per send task


# ------------------------------------------------------------------------------------------- preferences

_DEFAULTS = NotificationPreferences()


def channel_of(prefs: NotificationPreferences | None, topic: str) -> str:
    return getattr(prefs or _DEFAULTS, topic)


def preferences_of(user_ids: Iterable[int]) -> dict[int, NotificationPreferences]:
    """The stored preferences of those users who have changed any (the others have the defaults)."""
    return {p.user_id: p for p in NotificationPreferences.objects.filter(user_id__in=set(user_ids))}


def email_plan_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Those of `user_ids` whose plan in force includes email alerts (two queries for any number of users)."""
    from apps.billing.entitlements import in_force
    from apps.billing.models import Plan, Subscription

    ids = set(user_ids)
    if not ids:
        return set()
    now = timezone.now()
    # No default plan configured: no email but security ones (never an error in the caller's transaction).
    default = Plan.objects.filter(code=settings.BILLING["DEFAULT_PLAN"]).only("email_alerts").first()
    default_allows = bool(default and default.email_alerts)
    allowed, seen = set(), set()
    for sub in Subscription.objects.filter(user_id__in=ids).select_related("plan"):
        seen.add(sub.user_id)
        if sub.plan.email_alerts if in_force(sub, now=now) else default_allows:
            allowed.add(sub.user_id)
    return allowed | (ids - seen if default_allows else set())


def plan_email_refusal(user) -> str:
    """Why this trader's plan sends no emails but security ones; empty when it does."""
    from apps.billing.entitlements import feature_refusal

    refusal = feature_refusal(user, "email_alerts")
    return refusal.message if refusal else ""


# ------------------------------------------------------------------------------------------- unsubscribe


def unsubscribe_token(user_id: int, topic: str) -> str:
    return signing.dumps({"u": user_id, "t": topic}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[int, str] | None:
    """(user id, topic) of a valid token; None if it was tampered with or names no email topic."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("t") not in Topic.values or data.get("t") == Topic.SECURITY:
        return None
    if not isinstance(data.get("u"), int):
        return None
    return data["u"], data["t"]


def unsubscribe_url(user_id: int, topic: str) -> str:
    return settings.SITE_URL + reverse("notification_pages:unsubscribe", args=[unsubscribe_token(user_id, topic)])


# ------------------------------------------------------------------------------------------- writing


@dataclass
class Email:
    """One email to write: a template name under notifications/email/ and what it shows."""

    user_id: int | None
    to: str
    topic: str
    template: str
    context: dict = field(default_factory=dict)
    dedupe_key: str | None = None


def render(email: Email) -> OutboxEmail:
    """The outbox row of `email`: subject, plain text and HTML from its templates, and the unsubscribe headers."""
    unsubscribe = ""
    headers = {}
    if email.user_id is not None and email.topic and email.topic != Topic.SECURITY:
        unsubscribe = unsubscribe_url(email.user_id, email.topic)
        # RFC 8058 one-click: the provider's or mail client's POST to the link unsubscribes.
        headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    context = {
        **email.context,
        "site_url": settings.SITE_URL,
        "unsubscribe_url": unsubscribe,
        "topic_label": Topic(email.topic).label if email.topic else "",
        "settings_url": settings.SITE_URL + reverse("notification_pages:preferences"),
    }
    name = f"notifications/email/{email.template}"
    subject = render_to_string(f"{name}_subject.txt", context).strip()
    return OutboxEmail(
        user_id=email.user_id,
        to=email.to,
        topic=email.topic,
        subject=(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + " ".join(subject.split()))[:200],
        body_text=render_to_string(f"{name}.txt", context),
        body_html=render_to_string(f"{name}.html", context),
        headers=headers,
        dedupe_key=email.dedupe_key,
        next_attempt_at=timezone.now(),
    )


def emails_queue(emails: Iterable[Email], *, send_here: bool = False) -> list[int]:
    """Write the emails to the outbox in the caller's transaction; the worker sends them once it commits.

    `send_here`: this process sends them after commit instead (the dead-man's switch, whose news may be
    that the worker is down). An email whose `dedupe_key` is already in the outbox is skipped (a digest,
    a retried event). Returns the ids written.
    """
    rows = [render(e) for e in emails]
    if not rows:
        return []
    keys = [r.dedupe_key for r in rows if r.dedupe_key]
    if keys:
        taken = set(OutboxEmail.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
        rows = [r for r in rows if not r.dedupe_key or r.dedupe_key not in taken]
    created = OutboxEmail.objects.bulk_create(rows, batch_size=500)
    ids = [r.pk for r in created]
    transaction.on_commit(lambda: outbox_send(ids) if send_here else outbox_enqueue(ids), robust=True)
    return ids


def outbox_enqueue(ids: list[int]) -> None:
    """Hand written emails to the worker, a batch per task (the sweep sends them if this fails)."""
    from django_q.tasks import async_task

    for start in range(0, len(ids), BATCH):
        async_task("apps.notifications.tasks.outbox_send", ids[start : start + BATCH], group="email")


def notices_email(items: list, prefs: dict[int, NotificationPreferences]) -> list[Email]:
    """The emails in-app notices call for: their trader asked for email on that topic, and the plan allows it.

    `items` are NewNotification rows, already filtered for the trader's "off".
    """
    wanted = [
        i for i in items if (t := KIND_TOPIC.get(i.kind)) and channel_of(prefs.get(i.user_id), t) == Channel.EMAIL
    ]
    if not wanted:
        return []
    from django.contrib.auth import get_user_model

    user_ids = {i.user_id for i in wanted}
    non_security = {i.user_id for i in wanted if KIND_TOPIC[i.kind] != Topic.SECURITY}
    allowed = email_plan_user_ids(non_security)
    addresses = dict(get_user_model().objects.filter(pk__in=user_ids, is_active=True).values_list("pk", "email"))
    emails = []
    for item in wanted:
        topic = KIND_TOPIC[item.kind]
        if item.user_id not in addresses or (topic != Topic.SECURITY and item.user_id not in allowed):
            continue
        link = settings.SITE_URL + item.link if item.link.startswith("/") else item.link
        context = {"title": item.title, "body": item.body, "link": link}
        emails.append(Email(item.user_id, addresses[item.user_id], topic, "notice", context))
    return emails


# ------------------------------------------------------------------------------------------- sending


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.NOTIFICATIONS["OUTBOX_BACKOFF_S"] * 2 ** max(attempts - 1, 0))


def outbox_claim(pk: int) -> bool:
    """Take one due email for sending: PENDING and due → SENDING in one conditional update (one winner)."""
    now = timezone.now()
    return bool(
        OutboxEmail.objects.filter(pk=pk, status=OutboxStatus.PENDING, next_attempt_at__lte=now).update(
            status=OutboxStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def message_of(row: OutboxEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        row.subject, row.body_text, settings.DEFAULT_FROM_EMAIL, [row.to], headers=row.headers or None
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    return message


def outbox_send_one(pk: int) -> str | None:
    """Send the outbox email `pk` if this call claims it; returns its status afterwards (None: not ours)."""
    if not outbox_claim(pk):
        return None
    row = OutboxEmail.objects.get(pk=pk)
    try:
        message_of(row).send()
    except Exception as exc:  # any backend's failure: kept for a later attempt, or for staff
        error = f"{type(exc).__name__}: {exc}"[:500]
        failed = row.attempts >= settings.NOTIFICATIONS["OUTBOX_MAX_ATTEMPTS"]
        status = OutboxStatus.FAILED if failed else OutboxStatus.PENDING
        OutboxEmail.objects.filter(pk=pk, status=OutboxStatus.SENDING).update(
            status=status, last_error=error, next_attempt_at=timezone.now() + _backoff(row.attempts)
        )
        log.warning("email %s to user %s not sent (attempt %s): %s", pk, row.user_id, row.attempts, error)
        return status
    OutboxEmail.objects.filter(pk=pk, status=OutboxStatus.SENDING).update(
        status=OutboxStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return OutboxStatus.SENT


def outbox_send(ids: Iterable[int]) -> int:
    """Send each of `ids` this worker claims; returns how many were sent."""
    return sum(outbox_send_one(pk) == OutboxStatus.SENT for pk in ids)


def outbox_sweep(limit: int = 1000) -> int:
    """Send the due emails (retries, tasks lost); an email stuck SENDING (its worker died) goes to staff as FAILED.

    Never resent by itself: it may or may not have left; staff decide (admin action "send again").
    """
    timeout = timedelta(seconds=settings.NOTIFICATIONS["OUTBOX_SENDING_TIMEOUT_S"])
    OutboxEmail.objects.filter(status=OutboxStatus.SENDING, claimed_at__lt=timezone.now() - timeout).update(
        status=OutboxStatus.FAILED, last_error="The worker stopped while sending it: it may have been sent."
    )
    due = OutboxEmail.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=timezone.now())
    return outbox_send(list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]))


def outbox_retry(ids: Iterable[int]) -> int:
    """Staff's "send again" for FAILED emails: due now with a fresh set of attempts; sent after commit."""
    ids = list(OutboxEmail.objects.filter(pk__in=list(ids), status=OutboxStatus.FAILED).values_list("pk", flat=True))
    OutboxEmail.objects.filter(pk__in=ids, status=OutboxStatus.FAILED).update(
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if ids:
        transaction.on_commit(lambda: outbox_enqueue(ids), robust=True)
    return len(ids)
