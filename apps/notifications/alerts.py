"""Notices other apps' facts call for: low balance, security (sign-in, password, two-factor), Deriv disconnected."""

import hashlib
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.common.money import money_text

from .models import Channel, Kind, KnownBrowser, LowBalanceAlert, NotificationPreferences
from .services import NewNotification, notifications_create

BROWSER_COOKIE = "nexus_browser"
BROWSER_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def low_balance_check(user_ids: Iterable[int]) -> int:
    """Alert each account of these traders that fell below its trader's threshold, once per fall.

    An account alerted stays marked until a check finds it back at or above the threshold (re-armed).
    Returns how many alerts were sent.
    """
    from apps.accounts.models import TradingAccount

    thresholds = dict(
        NotificationPreferences.objects.filter(user_id__in=set(user_ids), low_balance_threshold__isnull=False)
        .exclude(low_balance=Channel.OFF)
        .values_list("user_id", "low_balance_threshold")
    )
    if not thresholds:
        return 0
    accounts = list(
        TradingAccount.objects.filter(user_id__in=thresholds).values_list(
            "pk", "user_id", "label", "currency", "ledger_account__balance"
        )
    )
    alerted = set(
        LowBalanceAlert.objects.filter(account_id__in=[a[0] for a in accounts]).values_list("account_id", flat=True)
    )
    back_above = [pk for pk, user_id, _, _, balance in accounts if pk in alerted and balance >= thresholds[user_id]]
    LowBalanceAlert.objects.filter(account_id__in=back_above).delete()
    sent = 0
    for pk, user_id, label, currency, balance in accounts:
        if pk in alerted or balance >= thresholds[user_id]:
            continue
        try:
            with transaction.atomic():
                LowBalanceAlert.objects.create(account_id=pk, user_id=user_id)
                notifications_create(
                    [
                        NewNotification(
                            user_id=user_id,
                            kind=Kind.LOW_BALANCE,
                            title=f"{label}: balance below {money_text(thresholds[user_id])} {currency}"[:120],
                            body=f"The balance of {label} is {money_text(balance)} {currency}, below the "
                            f"{money_text(thresholds[user_id])} {currency} you asked to hear about.",
                            link=reverse("trading:trade"),
                        )
                    ]
                )
        except IntegrityError:  # another check alerted this account first
            continue
        sent += 1
    return sent


def security_notify(*, user, title: str, body: str) -> None:
    """A security notice: in the app always, by email too unless the trader lowered it to in-app only."""
    notifications_create([NewNotification(user_id=user.pk, kind=Kind.SECURITY, title=title[:120], body=body[:500])])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sign_in_seen(*, user, browser_key: str, where: str) -> str:
    """Record a sign-in; a browser new to a trader who signed in elsewhere before gets a security notice.

    Returns the browser's key to keep in its cookie (a new one when it had none).
    """
    key = browser_key or secrets.token_urlsafe(24)
    with transaction.atomic():
        known = KnownBrowser.objects.filter(user=user)
        if known.filter(key_hash=_hash(key)).exists():
            known.filter(key_hash=_hash(key)).update(last_seen_at=timezone.now())
            return key
        first = not known.exists()
        KnownBrowser.objects.create(user=user, key_hash=_hash(key))
        if not first:
            security_notify(
                user=user,
                title="New sign-in to your account",
                body=f"Someone signed in to your Nexus account from a new browser ({where}). "
                "If it was not you, change your password now.",
            )
    return key


def deriv_disconnected_notify(*, user_id: int, reason: str) -> None:
    """The trader's Deriv link went down (token revoked or refused): trading on Deriv stops until relinked."""
    notifications_create(
        [
            NewNotification(
                user_id=user_id,
                kind=Kind.DERIV_DISCONNECTED,
                title="Deriv disconnected",
                body=f"Nexus lost its link to your Deriv accounts: {reason}"[:500],
                link=reverse("deriv:accounts"),
            )
        ]
    )
